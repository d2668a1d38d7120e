// What `gpufleet sim` prints: a table for people and a JSON document for scripts, with the
// schema docs/simulator.md documents ("Output"). Both put every policy beside the lower bound.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "autoscale/lower_bound.h"
#include "sim/capacity_plan.h"
#include "sim/sim_options.h"
#include "sim/sim_result.h"
#include "sim/trace.h"

namespace gf {

struct SimReport {
  const Trace* trace = nullptr;
  SimOptions options;
  WorkBound bound;
  std::vector<SimResult> runs;  // one per policy, in the order asked
  // Each deployment's engines' iteration budget by GPU model (sim_setup.h: iteration_budgets).
  std::map<std::string, std::map<std::string, int64_t>> iteration_budgets;
  uint64_t seed = 1;
};

std::string report_json(const SimReport& report);
// `--plan`: the options tried, cheapest meeting the goal first, as a table or a JSON document.
std::string plan_table(const SimReport& report, const CapacityPlan& plan);
std::string plan_json(const SimReport& report, const CapacityPlan& plan);
std::string report_table(const SimReport& report);

}  // namespace gf
