// XXH64 against published test vectors: independent gateways must hash prompts identically.
#include "routing/hash.h"

#include <gtest/gtest.h>

#include <string>

namespace gf {
namespace {

TEST(Xxh64, MatchesPublishedVectors) {
  EXPECT_EQ(xxh64("", 0), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(xxh64("a", 0), 0xD24EC4F1A98C6E5BULL);
  EXPECT_EQ(xxh64("abc", 0), 0x44BC2CF5AD770999ULL);
  EXPECT_EQ(xxh64("Hello, World!", 0), 0xC49AACF8080FE47FULL);
  EXPECT_EQ(xxh64("Hello, World!", 42), 0xC2E0FE28B2512846ULL);
  // The 32-byte stripe loop and the tail after it.
  EXPECT_EQ(xxh64(std::string(32, 'a'), 0), 0x856E843298F99AD7ULL);
  EXPECT_EQ(xxh64(std::string(33, 'a'), 0), 0x18F3FF0C21E3B24BULL);
}

TEST(Xxh64, SeedAndEveryByteMatter) {
  const std::string text(100, 'x');
  EXPECT_NE(xxh64(text, 0), xxh64(text, 1));
  for (size_t i = 0; i < text.size(); ++i) {
    std::string changed = text;
    changed[i] = 'y';
    EXPECT_NE(xxh64(changed, 0), xxh64(text, 0)) << i;
  }
}

TEST(Mix64, SpreadsSequentialKeys) {
  // Trace block ids are 0, 1, 2 ...: mixed, their low bits must not stay sequential.
  int same_low_byte = 0;
  for (uint64_t i = 1; i < 1000; ++i)
    if ((mix64(i) & 0xFF) == (mix64(i - 1) & 0xFF)) ++same_low_byte;
  EXPECT_LT(same_low_byte, 20);
}

}  // namespace
}  // namespace gf
