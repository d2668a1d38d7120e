// --plan: the cheapest mix that meets the goal, and minimal — one replica fewer of it misses.
#include "sim/capacity_plan.h"

#include <gtest/gtest.h>

#include "sim/synthetic.h"

namespace gf {
namespace {

using std::chrono::minutes;

constexpr const char* kModel = "meta-llama/Llama-2-7b-hf";

TEST(CapacityPlan, FindsTheCheapestMixThatMeetsTheGoalAndNoSmallerOneDoes) {
  SyntheticSpec spec;
  spec.arrivals = PoissonArrivals{.rps = 12};
  spec.sizes = LognormalSizes{Tokens(1024), 0.6, Tokens(200), 0.6, Tokens(4096), Tokens(1024)};
  spec.length = minutes(3);
  spec.seed = 3;
  auto trace = generate_trace(spec);
  ASSERT_TRUE(trace);
  for (auto& r : trace->requests)
    r.model = kModel;

  SimInput in;
  in.cluster.nodes.push_back(
      NodeSpec{"a", {}, {GpuGroupSpec{"A100-80GB", 8, MiB{81920}, 1.8, {}}}, {}});
  in.cluster.nodes.push_back(
      NodeSpec{"h", {}, {GpuGroupSpec{"H100-80GB", 8, MiB{81920}, 3.2, {}}}, {}});
  DeploymentSpec d;
  d.name = "llama";
  d.model = kModel;
  d.resources.gpu_models = {"H100-80GB", "A100-80GB"};
  d.replicas = {1, 8};
  in.deployments = {d};
  in.trace = &*trace;
  SimOptions o;
  o.warmup = Duration::zero();
  o.slo.ttft = std::chrono::seconds(1);
  o.attainment_goal = 0.95;
  auto plan = plan_capacity(in, o, "fixed", PlanLimits{16});
  ASSERT_TRUE(plan) << plan.error().message;
  ASSERT_TRUE(plan->found());
  EXPECT_GT(plan->simulations, 2u);
  const PlanOption& best = plan->options.front();
  EXPECT_GE(best.slo_attainment, 0.95);
  for (const PlanOption& other : plan->options) {
    if (other.meets) {
      EXPECT_GE(other.cost, best.cost);
    }
  }
  // One replica fewer of any model in the best mix misses the goal (or was never cheaper).
  for (const auto& [model, n] : best.gpus) {
    if (n == 0) continue;
    auto fewer = best.gpus;
    fewer[model] = n - 1;
    if (fewer[model] == 0) fewer.erase(model);
    for (const PlanOption& other : plan->options) {
      if (other.gpus == fewer) {
        EXPECT_FALSE(other.meets) << model;
      }
    }
  }
  // Prices: a mix's cost is its GPUs at their prices over the trace's span.
  double per_hour = 0;
  for (const auto& [model, n] : best.gpus)
    per_hour += n * (model == "A100-80GB" ? 1.8 : 3.2);
  EXPECT_DOUBLE_EQ(best.cost_per_hour, per_hour);
}

TEST(CapacityPlan, SaysWhenNoGpuOfTheClusterCanRunTheDeployment) {
  Trace trace;
  trace.requests.push_back(TraceRequest{Duration::zero(), Tokens(10), Tokens(10), {}, kModel, ""});
  SimInput in;
  in.cluster.nodes.push_back(NodeSpec{"l", {}, {GpuGroupSpec{"L40S", 4, MiB{46068}, 1.0, {}}}, {}});
  DeploymentSpec d;
  d.name = "llama";
  d.model = kModel;
  d.resources.gpu_models = {"A100-80GB"};
  in.deployments = {d};
  in.trace = &trace;
  auto plan = plan_capacity(in, SimOptions{}, "target");
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().message.find("no GPU model of the cluster"), std::string::npos);
  EXPECT_FALSE(plan_capacity(in, SimOptions{}, "nope"));
}

}  // namespace
}  // namespace gf
