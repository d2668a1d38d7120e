// The classic threshold rule: one replica at a time, cooldowns after each action.
#include <gtest/gtest.h>

#include "autoscale/deployment_scaler.h"
#include "scaler_fixture.h"

namespace gf {
namespace {

using namespace std::chrono_literals;
using testing::ScalerRun;

TEST(ThresholdPolicy, AddsOneReplicaPerCooldown) {
  ManualClock clock;
  ScalerRun r;
  r.spec.policy = "threshold";
  auto s = DeploymentScaler::create("chat", r.spec, clock.now());
  ASSERT_TRUE(s.ok());
  r.run(*s, clock, 20s, [](Duration) { return 4.0; });  // 0.5 of one replica's 8
  EXPECT_EQ(r.current, 1);
  // 4 replicas' worth: +1 at once, then one more per 60 s cooldown.
  auto ds = r.run(*s, clock, 150s, [](Duration) { return 32.0; });
  for (const auto& d : ds)
    EXPECT_LE(d.to - d.from, 1) << d.reason;
  EXPECT_EQ(r.current, 4);  // at 0, 60 and 120 s
  EXPECT_EQ(ds[1].rule, "cooldown");
  // Load gone: one fewer per 300 s scale-down cooldown, none before.
  ds = r.run(*s, clock, 290s, [](Duration) { return 0.5; });
  EXPECT_EQ(r.current, 3) << ds.back().reason;
  ds = r.run(*s, clock, 300s, [](Duration) { return 0.5; });
  EXPECT_EQ(r.current, 2);
}

TEST(ThresholdPolicy, StaysBetweenTheThresholds) {
  ManualClock clock;
  ScalerRun r;
  r.spec.policy = "threshold";
  r.current = 2;
  auto s = DeploymentScaler::create("chat", r.spec, clock.now());
  ASSERT_TRUE(s.ok());
  auto ds = r.run(*s, clock, 600s, [](Duration) { return 8.0; });  // utilization 0.5
  EXPECT_EQ(r.current, 2);
  EXPECT_EQ(ds.back().rule, "within thresholds");
}

}  // namespace
}  // namespace gf
