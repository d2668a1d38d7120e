#include "admission/concurrency_limit.h"

#include <gtest/gtest.h>

namespace gf {
namespace {

TEST(ConcurrencyLimit, AcquiresUpToTheCap) {
  ConcurrencyLimit c(2);
  EXPECT_TRUE(c.try_acquire());
  EXPECT_TRUE(c.try_acquire());
  EXPECT_FALSE(c.has_room());
  EXPECT_FALSE(c.try_acquire());
  EXPECT_EQ(c.in_flight(), 2);
  EXPECT_TRUE(c.release().ok());
  EXPECT_TRUE(c.try_acquire());
}

TEST(ConcurrencyLimit, NeverGoesNegative) {
  ConcurrencyLimit c(1);
  Status s = c.release();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(c.in_flight(), 0);
  // A double release does not become a free slot.
  ASSERT_TRUE(c.try_acquire());
  ASSERT_TRUE(c.release().ok());
  EXPECT_FALSE(c.release().ok());
  EXPECT_EQ(c.in_flight(), 0);
  EXPECT_TRUE(c.try_acquire());
  EXPECT_FALSE(c.try_acquire());
}

TEST(ConcurrencyLimit, UncappedCountsAndLoweringWaitsForDrain) {
  ConcurrencyLimit c;
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(c.try_acquire());
  EXPECT_EQ(c.in_flight(), 1000);
  c.set_limit(998);
  EXPECT_FALSE(c.try_acquire());
  ASSERT_TRUE(c.release().ok());
  ASSERT_TRUE(c.release().ok());
  EXPECT_FALSE(c.try_acquire());  // 998 in flight, cap 998
  ASSERT_TRUE(c.release().ok());
  EXPECT_TRUE(c.try_acquire());
  c.set_limit(0);
  EXPECT_FALSE(c.has_room());
}

}  // namespace
}  // namespace gf
