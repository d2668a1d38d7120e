// `gpufleet sim --plan`: the cheapest GPU mix that meets the SLO on a trace, found by search over
// simulations. Candidates are built from the cluster's GPU models and prices: for each model
// alone, the fewest GPUs whose run meets the attainment goal (a binary search on replicas); then
// for each pair of models, the fewest of the second beside each count of the first. A mix costs
// its GPUs at their pricePerHour for the trace's span (what one must own or reserve); the run's
// GPU-hours (what autoscaling used of it) are reported beside.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "sim/sim_options.h"
#include "sim/simulation.h"

namespace gf {

struct PlanOption {
  std::map<std::string, int> gpus;  // GPU model -> count
  double cost_per_hour = 0;         // all its GPUs at their prices
  double cost = 0;                  // that over the trace's span
  double slo_attainment = 0;
  double gpu_hours = 0;  // what the policy used of it
  bool meets = false;    // attainment >= the goal
};

struct CapacityPlan {
  std::string policy;
  std::vector<PlanOption> options;  // every mix simulated, cheapest meeting the goal first
  size_t simulations = 0;
  bool found() const { return !options.empty() && options.front().meets; }
};

struct PlanLimits {
  int max_replicas = 64;  // per GPU model: the search's ceiling
};

// `base` gives the GPU models, memory and prices (its cluster), the deployments and the trace;
// every deployment runs under `policy`. Errors: a GPU model no deployment can use at all, a
// simulation's error, an unknown policy.
Result<CapacityPlan> plan_capacity(const SimInput& base, const SimOptions& options,
                                   const std::string& policy, PlanLimits limits = {});

}  // namespace gf
