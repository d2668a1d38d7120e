#include "pool/summary.h"

#include <algorithm>
#include <bit>
#include <set>

namespace gf {
namespace {

void add_gpu(CapacityTotals& t, const Gpu& g, bool reserved) {
  t.gpus += 1;
  t.memory_total += g.memory_total;
  t.memory_committed += g.memory_committed;
  if (!g.empty()) t.allocated += 1;
  if (reserved) t.reserved += 1;
  switch (g.state()) {
    case GpuState::kFaulty:
    case GpuState::kProbation:
    case GpuState::kLost:
      t.unavailable += 1;
      break;
    case GpuState::kCordoned:
    case GpuState::kDraining:
      t.cordoned += 1;
      break;
    default:
      if (g.empty()) t.idle += 1;
  }
}

void finish(CapacityTotals& t) {
  t.fragmentation =
      t.idle == 0 ? 0.0 : 1.0 - static_cast<double>(t.free_in_largest_groups) / t.idle;
}

}  // namespace

PoolSummary summarize(const Pool& pool) {
  PoolSummary s;
  std::set<GpuIndex> reserved;  // GPUs with an idle slot: held for a burst, running nothing yet
  for (const auto& [id, a] : pool.allocations()) {
    if (a.is_slot() && !a.bound_replica.valid()) reserved.insert(a.gpus.begin(), a.gpus.end());
  }
  for (uint32_t n = 0; n < pool.node_count(); ++n) {
    const Node& node = pool.node(NodeIndex{n});
    CapacityTotals& nt = s.by_node[node.name];
    // Idle GPUs per model on this node, as local-index masks.
    std::map<uint16_t, uint64_t> idle;
    for (GpuIndex gi : node.gpus) {
      const Gpu& g = pool.gpu(gi);
      const bool held = reserved.count(gi) > 0;
      add_gpu(s.total, g, held);
      add_gpu(nt, g, held);
      add_gpu(s.by_model[pool.model_name(g.model)], g, held);
      if (g.empty() && allows_new_allocation(g.health, g.admin, false))
        idle[g.model.value] |= uint64_t{1} << g.local_index;
    }
    for (const auto& [model, mask] : idle) {
      // Free GPUs a single request could still use together: the best NVLink group's, plus the
      // PCIe-only ones (which serve single-GPU requests perfectly, so they are not fragments).
      uint64_t grouped = 0;
      int best_group = 0;
      for (uint64_t grp : node.nvlink_groups) {
        grouped |= grp;
        best_group = std::max(best_group, std::popcount(grp & mask));
      }
      int counted = best_group + std::popcount(mask & ~grouped);
      nt.free_in_largest_groups += counted;
      s.total.free_in_largest_groups += counted;
      s.by_model[pool.model_name(ModelIndex{model})].free_in_largest_groups += counted;
    }
  }
  finish(s.total);
  for (auto& [k, t] : s.by_node)
    finish(t);
  for (auto& [k, t] : s.by_model)
    finish(t);
  return s;
}

}  // namespace gf
