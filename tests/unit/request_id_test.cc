// RequestIds: a client's x-request-id passes as it is; without one, ids are new and unique; an
// id that cannot be passed on is refused with the reason.
#include "gateway/request_id.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace gf {
namespace {

net::Headers with_id(const std::string& id) {
  net::Headers h;
  h.append("x-request-id", id);
  return h;
}

TEST(RequestIds, AClientsIdPassesAsItIs) {
  RequestIds ids(7);
  auto id = ids.for_request(with_id("req-1.a_b:c/d+e=f@g"));
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(*id, "req-1.a_b:c/d+e=f@g");
  auto longest = ids.for_request(with_id(std::string(128, 'x')));
  EXPECT_TRUE(longest);
}

TEST(RequestIds, WithoutOneEachRequestGetsANewIdAndAnotherGatewayOthers) {
  RequestIds one(1), two(2);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto a = one.for_request(net::Headers{});
    auto b = two.for_request(net::Headers{});
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->size(), 32u);
    EXPECT_EQ(a->find_first_not_of("0123456789abcdef"), std::string::npos) << *a;
    seen.insert(*a);
    seen.insert(*b);
  }
  EXPECT_EQ(seen.size(), 2000u);
}

TEST(RequestIds, AnIdThatCannotBePassedOnSaysWhy) {
  RequestIds ids(7);
  auto expect_refused = [&](const net::Headers& h, const std::string& why) {
    auto id = ids.for_request(h);
    ASSERT_FALSE(id) << *id;
    EXPECT_EQ(id.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(id.error().message.find(why), std::string::npos) << id.error().message;
    EXPECT_EQ(id.error().message.rfind("x-request-id header: ", 0), 0u) << id.error().message;
  };
  expect_refused(with_id(""), "empty");
  expect_refused(with_id(std::string(129, 'x')), "129 characters; at most 128");
  expect_refused(with_id("a\"b"), "character 2 (byte 0x22)");
  expect_refused(with_id("ab\n"), "character 3 (byte 0x0a)");
  net::Headers twice = with_id("a");
  twice.append("x-request-id", "b");
  expect_refused(twice, "given 2 times");
}

}  // namespace
}  // namespace gf
