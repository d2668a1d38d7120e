// The predictive policy: on a load that repeats, replicas are asked for before the step arrives
// (target only reacts after it); while the forecast is new or wrong, it behaves as target.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>

#include "autoscale/deployment_scaler.h"
#include "scaler_fixture.h"

namespace gf {
namespace {

using namespace std::chrono_literals;
using testing::ScalerRun;

// 5 req/s, then 20 req/s for the second half of every 10 minutes.
double square(Duration t) {
  return (t % 600s) >= 300s ? 20.0 : 5.0;
}

ScalerRun periodic(const std::string& policy) {
  ScalerRun r;
  r.spec.policy = policy;
  r.spec.metric = ScalingMetric::kRps;
  r.spec.replica_capacity = 5;
  r.spec.target_utilization = 1.0;
  r.spec.season = 10min;
  r.spec.cold_start = 30s;
  r.spec.stabilization = 60s;
  r.range = {1, 10};
  return r;
}

// When, relative to the step at 2100 s (the 4th season's high half), the count first reached 4.
std::optional<Duration> lead(const std::string& policy) {
  ManualClock clock;
  ScalerRun r = periodic(policy);
  auto s = DeploymentScaler::create("chat", r.spec, clock.now());
  EXPECT_TRUE(s.ok());
  auto ds = r.run(*s, clock, 2200s, square);
  const TimePoint start = ds.front().at - r.spec.period;
  for (const auto& d : ds) {
    const Duration t = d.at - start;
    if (t > 1900s && d.to >= 4) return 2100s - t;
  }
  return std::nullopt;
}

TEST(PredictivePolicy, ScalesAheadOfARepeatingStepThatTargetOnlyFollows) {
  const auto predictive = lead("predictive");
  const auto target = lead("target");
  ASSERT_TRUE(predictive);
  ASSERT_TRUE(target);
  // Target sees the step only after it (the 10 s mean must climb); predictive is ready before.
  EXPECT_LE(*target, 0s);
  EXPECT_GT(*predictive, 0s)
      << "predictive reached 4 replicas "
      << std::chrono::duration_cast<std::chrono::seconds>(-*predictive).count()
      << " s after the step";
}

TEST(PredictivePolicy, BehavesAsTargetWhileTheForecastWarmsUp) {
  ManualClock clock;
  ScalerRun r = periodic("predictive");
  auto s = DeploymentScaler::create("chat", r.spec, clock.now());
  ASSERT_TRUE(s.ok());
  auto ds = r.run(*s, clock, 5s, [](Duration) { return 12.0; });
  EXPECT_EQ(ds.back().rule.rfind("fallback: ", 0), 0u) << ds.back().rule;
  EXPECT_NE(ds.back().reason.find("warming up"), std::string::npos) << ds.back().reason;
  EXPECT_EQ(r.current, 3);  // ceil(12 / 5), as target would
}

TEST(PredictivePolicy, NeverProvidesLessThanTargetForTheLoadSeenNow) {
  ManualClock clock;
  ScalerRun p = periodic("predictive");
  ScalerRun t = periodic("target");
  auto sp = DeploymentScaler::create("a", p.spec, clock.now());
  ManualClock clock2;
  auto st = DeploymentScaler::create("b", t.spec, clock2.now());
  ASSERT_TRUE(sp.ok() && st.ok());
  auto a = p.run(*sp, clock, 1900s, square);
  auto b = t.run(*st, clock2, 1900s, square);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_GE(a[i].to, std::min(b[i].to, a[i].from)) << i << ": " << a[i].reason;
}

}  // namespace
}  // namespace gf
