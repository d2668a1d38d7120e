// How many tokens one engine iteration may carry (vLLM's max_num_batched_tokens) so that
// the decodes riding in it still meet the time-per-output-token target: the budget gpufleet gives
// the engines it starts when a deployment asks for `engine.maxBatchedTokens: auto`.
#pragma once

#include <optional>
#include <string>

#include "common/spec.h"
#include "common/units.h"
#include "perfmodel/perf_model.h"

namespace gf {

// The request shape and load the budget is chosen for: one replica's share of the deployment's
// traffic at the rate it is sized for.
struct BudgetLoad {
  Tokens prompt{512};
  Tokens output{128};
  double rps = 0;  // requests/s one replica carries (its capacity within the SLO)
};

// Sarathi-Serve's rule (Agrawal et al., OSDI 2024, arXiv 2403.02310: the token budget is the
// largest chunk whose hybrid iteration stays within the TPOT target): the largest budget, in whole
// KV blocks of kBudgetStep tokens, at which one mixed iteration — a chunk of that many prompt
// tokens, taken from the end of a prompt of the load's size (its costliest attention), beside
// the decode batch that load keeps by Little's law at the target — costs no more than
// `tpot`. Never below kMinBudget (vLLM refuses a budget under its 256 sequences) nor above
// `ceiling` (the engine's own default: a larger one never helps the target).
Tokens slo_iteration_budget(const PerfModel& perf, Duration tpot, const BudgetLoad& load,
                            Tokens ceiling);

inline constexpr int64_t kBudgetStep = 16;  // vLLM's KV block size
inline constexpr int64_t kMinBudget = PerfModel::kMaxBatch;

// The budget a deployment's engines on `gpu` are started with: its own `engine.maxBatchedTokens`,
// or for `auto` slo_iteration_budget at its TPOT target for requests of the spec's size at one
// replica's capacity for them (PerfModel::sustainable_rps), under the GPU's vLLM default. nullopt:
// it sets none (the engine keeps its own default), or, for `auto`, the perf model does not know the
// pair (the engine then keeps its default too).
std::optional<Tokens> engine_iteration_budget(const DeploymentSpec& d, const std::string& gpu);

// The cost in milliseconds of the iteration slo_iteration_budget prices for a budget of `m`
// tokens (exposed for its tests and the docs).
double budget_iteration_ms(const PerfModel& perf, Duration tpot, const BudgetLoad& load, int64_t m);

}  // namespace gf
