// Spacing of routing-table releases to the watching gateways (controller/routing_release.h).
#include "controller/routing_release.h"

#include <gtest/gtest.h>

namespace gf {
namespace {

using namespace std::chrono_literals;

TEST(RoutingRelease, ASmallTableIsReleasedAtOnceAndALargeOneWithinTheBudget) {
  RoutingRelease r(200e6);
  const TimePoint t0{100s};
  EXPECT_TRUE(r.may_release(t0));
  // 100 KB to 100 gateways: 10 MB, 50 ms of the budget.
  r.released(t0, 100'000, 100);
  EXPECT_EQ(r.next(), t0 + 50ms);
  EXPECT_FALSE(r.may_release(t0 + 49ms));
  EXPECT_TRUE(r.may_release(t0 + 50ms));
  // 4 MB (40,000 replicas) to 100 gateways: 400 MB, 2 s before the next release.
  r.released(t0 + 50ms, 4'000'000, 100);
  EXPECT_EQ(r.next(), t0 + 2050ms);
  EXPECT_FALSE(r.may_release(t0 + 2s));
  EXPECT_TRUE(r.may_release(t0 + 2050ms));
  // Nobody watching: nothing sent, nothing to wait for.
  r.released(t0 + 3s, 4'000'000, 0);
  EXPECT_TRUE(r.may_release(t0 + 3s));
}

}  // namespace
}  // namespace gf
