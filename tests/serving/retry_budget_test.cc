// Envoy's retry budget: a floor, then a share of the requests in flight.
#include "serving/retry_budget.h"

#include <gtest/gtest.h>

namespace gf {
namespace {

TEST(RetryBudget, FloorThenShareOfActive) {
  RetryBudget b(RetryBudgetConfig{.ratio = 0.2, .floor = 3});
  for (int i = 0; i < 20; ++i)
    b.request_started();
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(b.try_retry()) << i;  // 0.2 × 20 = 4
  EXPECT_FALSE(b.try_retry());
  for (int i = 0; i < 5; ++i)
    b.request_started();  // 25 in flight: 5 may retry
  EXPECT_TRUE(b.try_retry());
  EXPECT_FALSE(b.try_retry());
  b.request_ended(true);  // 24 in flight, 4 retrying: 4.8 allows no fifth
  EXPECT_FALSE(b.try_retry());
  for (int i = 0; i < 24; ++i)
    b.request_ended(i < 4);
  EXPECT_EQ(b.active(), 0);
  EXPECT_EQ(b.retrying(), 0);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(b.try_retry());  // the floor, even with nothing counted
  EXPECT_FALSE(b.try_retry());
}

}  // namespace
}  // namespace gf
