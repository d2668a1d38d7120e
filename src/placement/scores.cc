#include "placement/scores.h"

#include "placement/gpu_cost.h"

#include <algorithm>
#include <limits>

namespace gf {
namespace {

// Percent of the candidate's capacity in use after placing the request: for whole GPUs, the
// node's GPUs of that model; for a share, the GPU's memory.
int64_t used_after_percent(const PlacementContext& ctx, const Candidate& c) {
  const Pool& pool = ctx.pool;
  const Gpu& first = pool.gpu(c.first);
  if (ctx.request.fractional()) {
    int64_t used = first.memory_committed.value + ctx.memory_needed(first).value;
    return std::min<int64_t>(100, used * 100 / first.memory_total.value);
  }
  int total = 0;
  int empty = 0;
  for (GpuIndex gi : pool.node(c.node).gpus) {
    const Gpu& g = pool.gpu(gi);
    if (g.model != first.model) continue;
    ++total;
    if (g.empty()) ++empty;
  }
  int used = total - empty + c.count();
  return total == 0 ? 0 : std::min<int64_t>(100, int64_t{used} * 100 / total);
}

}  // namespace

void BinPackScore::score(const PlacementContext& ctx, std::span<const Candidate> c,
                         std::span<int64_t> out) const {
  for (size_t i = 0; i < c.size(); ++i)
    out[i] = used_after_percent(ctx, c[i]);
}

void SpreadScore::score(const PlacementContext& ctx, std::span<const Candidate> c,
                        std::span<int64_t> out) const {
  for (size_t i = 0; i < c.size(); ++i)
    out[i] = 100 - used_after_percent(ctx, c[i]);
}

void CostEfficiencyScore::score(const PlacementContext& ctx, std::span<const Candidate> c,
                                std::span<int64_t> out) const {
  // Price per unit of capacity; the cheapest candidate gets 100, others proportionally less.
  std::vector<double> cost(c.size());
  double best = std::numeric_limits<double>::max();
  for (size_t i = 0; i < c.size(); ++i) {
    cost[i] = cost_per_capacity(ctx.pool, c[i].first, hints_);
    best = std::min(best, cost[i]);
  }
  for (size_t i = 0; i < c.size(); ++i) {
    out[i] = cost[i] <= 0.0 ? 100 : static_cast<int64_t>(100.0 * best / cost[i]);
  }
}

void WarmAffinityScore::score(const PlacementContext& ctx, std::span<const Candidate> c,
                              std::span<int64_t> out) const {
  std::optional<uint32_t> served = ctx.pool.find_served(ctx.request.model);
  for (size_t i = 0; i < c.size(); ++i)
    out[i] = served && ctx.pool.warm(c[i].node, *served) ? 100 : 0;
}

void ModelPreferenceScore::score(const PlacementContext& ctx, std::span<const Candidate> c,
                                 std::span<int64_t> out) const {
  int64_t n = static_cast<int64_t>(ctx.request.gpu_models.size());
  for (size_t i = 0; i < c.size(); ++i) {
    int rank = ctx.model_rank[ctx.pool.gpu(c[i].first).model.value];
    out[i] = n == 0 ? 100 : 100 * (n - rank) / n;
  }
}

}  // namespace gf
