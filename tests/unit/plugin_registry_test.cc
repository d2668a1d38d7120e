// The generic name -> factory table every extension point uses: lookup, order, and the error an
// unknown name gets.
#include "common/plugin_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gf {
namespace {

using Factory = int (*)();

const PluginRegistry<Factory>& fruit() {
  static const PluginRegistry<Factory> r("fruit", {
                                                      {"apple", [] { return 1; }},
                                                      {"banana", [] { return 2; }},
                                                      {"cherry", [] { return 3; }},
                                                  });
  return r;
}

TEST(PluginRegistry, FindsEachNameItsFactory) {
  ASSERT_NE(fruit().find("banana"), nullptr);
  EXPECT_EQ((*fruit().find("banana"))(), 2);
  auto cherry = fruit().lookup("cherry");
  ASSERT_TRUE(cherry.ok());
  EXPECT_EQ((**cherry)(), 3);
  EXPECT_EQ(fruit().find("durian"), nullptr);
  EXPECT_EQ(fruit().find("Apple"), nullptr);  // names are exact
}

TEST(PluginRegistry, ListsNamesInRegistrationOrder) {
  EXPECT_EQ(fruit().names(), (std::vector<std::string>{"apple", "banana", "cherry"}));
  EXPECT_EQ(fruit().what(), "fruit");
}

TEST(PluginRegistry, UnknownNameIsAnErrorListingEveryKnownName) {
  auto r = fruit().lookup("durian");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message, "unknown fruit \"durian\"; known: apple, banana, cherry");
}

TEST(PluginRegistry, UnknownNameMessageIsSharedWithOtherReaders) {
  std::vector<std::string> known = {"a", "b"};
  EXPECT_EQ(unknown_name_message("routing policy", "x", known),
            "unknown routing policy \"x\"; known: a, b");
  EXPECT_EQ(unknown_name_message("thing", "x", {}), "unknown thing \"x\"; known: ");
}

}  // namespace
}  // namespace gf
