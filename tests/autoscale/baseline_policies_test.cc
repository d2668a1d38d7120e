// The baselines keep their systems' published rules: HPA's 15 s sync, Ray Serve's upscale and
// downscale delays, Dynamo's 180 s adjustment from a latency profile.
#include <gtest/gtest.h>

#include "autoscale/deployment_scaler.h"
#include "scaler_fixture.h"

namespace gf {
namespace {

using namespace std::chrono_literals;
using testing::ScalerRun;

// Steady load that needs `n` replicas at the default target (8 x 70% per replica).
double needs(int n) {
  return n * 8 * 0.7 - 0.5;
}

DeploymentScaler make_policy(const std::string& name, ManualClock& clock, AutoscalingSpec spec) {
  spec.policy = name;
  auto s = DeploymentScaler::create("d", spec, clock.now());
  EXPECT_TRUE(s.ok()) << s.error().message;
  return std::move(*s);
}

TEST(HpaBaseline, DecidesOnlyEvery15Seconds) {
  ManualClock clock;
  ScalerRun r;
  auto s = make_policy("hpa", clock, r.spec);
  // 3 replicas' worth from the start: the first sync acts, the next 14 periods hold.
  auto ds = r.run(s, clock, 20s, [](Duration) { return needs(3); });
  int syncs = 0;
  for (const auto& d : ds)
    syncs += d.rule == "proportional" || d.rule == "within tolerance";
  EXPECT_EQ(syncs, 2);  // at 1 s and 16 s
  EXPECT_EQ(r.current, 3);
}

TEST(RayServeBaseline, WaitsOutItsUpscaleAndDownscaleDelays) {
  ManualClock clock;
  ScalerRun r;
  auto s = make_policy("ray-serve", clock, r.spec);
  auto up = r.run(s, clock, 29s, [](Duration) { return needs(4); });
  EXPECT_EQ(r.current, 1) << up.back().reason;  // asked for more for under 30 s: nothing yet
  r.run(s, clock, 2s, [](Duration) { return needs(4); });
  EXPECT_EQ(r.current, 4);
  r.run(s, clock, 590s, [](Duration) { return needs(1); });
  EXPECT_EQ(r.current, 4) << "downscale_delay_s is 600";
  r.run(s, clock, 45s, [](Duration) { return needs(1); });
  EXPECT_EQ(r.current, 1);
}

TEST(DynamoSlaBaseline, AdjustsEvery180SecondsFromTheProfile) {
  ManualClock clock;
  ScalerRun r;
  r.range = {1, 50};
  AutoscalingSpec spec = r.spec;
  spec.slo_ttft = 1s;
  spec.slo_tpot = 50ms;
  auto s = make_policy("dynamo-sla", clock, spec);
  // 40 req/s of 512 + 128 tokens on Llama-2-7B / A100.
  auto ds = r.run(s, clock, 29s, [](Duration) { return 40.0; });
  EXPECT_EQ(ds.back().rule, "start delay") << ds.front().rule << " " << ds.front().reason;
  ds = r.run(s, clock, 2s, [](Duration) { return 40.0; });  // 30 s after its first period
  EXPECT_EQ(ds.back().rule, "sla");
  const int first = r.current;
  EXPECT_GT(first, 1) << ds.back().reason;
  ds = r.run(s, clock, 1s, [](Duration) { return 40.0; });
  EXPECT_EQ(ds.back().rule, "between adjustments");
  // The same load later sizes the same (no correction seen: no latency reported).
  ds = r.run(s, clock, 179s, [](Duration) { return 40.0; });
  EXPECT_EQ(r.current, first);
  // Twice the load, at the next adjustment: about twice the replicas.
  ds = r.run(s, clock, 181s, [](Duration) { return 80.0; });
  EXPECT_GE(r.current, 2 * first - 1);
  EXPECT_LE(r.current, 2 * first + 1);
}

}  // namespace
}  // namespace gf
