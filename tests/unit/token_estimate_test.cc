#include "common/token_estimate.h"

#include <gtest/gtest.h>

namespace gf {
namespace {

TEST(TokenEstimate, FourBytesPerTokenRoundedUp) {
  EXPECT_EQ(estimate_tokens(Bytes(4)), Tokens(1));
  EXPECT_EQ(estimate_tokens(Bytes(5)), Tokens(2));
  EXPECT_EQ(estimate_tokens(Bytes(11)), Tokens(3));  // "hello there"
  EXPECT_EQ(estimate_tokens(Bytes(31)), Tokens(8));
  EXPECT_EQ(estimate_tokens(Bytes(512)), Tokens(128));  // one prefix block
}

TEST(TokenEstimate, EveryPromptCostsAtLeastOneToken) {
  EXPECT_EQ(estimate_tokens(Bytes(0)), Tokens(1));
  EXPECT_EQ(estimate_tokens(Bytes(1)), Tokens(1));
  EXPECT_EQ(estimate_tokens(Bytes(-5)), Tokens(1));
}

static_assert(estimate_tokens(Bytes(8)) == Tokens(2), "usable at compile time");

}  // namespace
}  // namespace gf
