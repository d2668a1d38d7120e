// Baseline placers for the benchmarks: they scan every GPU of the pool and apply the scheduler's
// hard rules (health, model, empty or enough free memory and compute, NVLink via pick_gpus), with
// no capacity index and no scoring. They exist only to measure what the scheduler buys.
#pragma once

#include <algorithm>
#include <bit>
#include <optional>
#include <vector>

#include "placement/gpu_picker.h"
#include "placement/plugin.h"
#include "pool/pool.h"

namespace gf::bench {

enum class NaivePolicy {
  kFirstFit,        // the first node (or GPU, for a share) in pool order that fits
  kMostFreeMemory,  // among all that fit, the node (or GPU) with the most free memory
};

// Per ModelIndex: whether the request accepts that GPU model. Done once per request so the scan
// compares small integers, not strings, as the scheduler's PlacementContext does.
inline std::vector<char> accepted_models(const Pool& pool, const AllocationRequest& r) {
  std::vector<char> ok(pool.model_count(), r.gpu_models.empty() ? 1 : 0);
  for (const auto& name : r.gpu_models) {
    if (auto m = pool.find_model(name)) ok[m->value] = 1;
  }
  return ok;
}

// Memory and compute one share of `r` takes on `g`, with the pool's rounding.
inline std::pair<MiB, MilliGpu> share_need(const Gpu& g, const AllocationRequest& r) {
  int64_t total = g.memory_total.value;
  MiB mem = r.memory_per_gpu ? *r.memory_per_gpu : MiB(total * r.compute->value / 1000);
  MilliGpu comp = r.compute
                      ? *r.compute
                      : MilliGpu(std::max<int64_t>(1, (mem.value * 1000 + total - 1) / total));
  return {mem, comp};
}

// The scheduler's hard filters, restated for one GPU.
inline bool gpu_fits(const Pool& pool, const Gpu& g, const AllocationRequest& r,
                     const std::vector<char>& accepted) {
  if (!allows_new_allocation(g.health, g.admin, r.allow_reserved)) return false;
  if (!accepted[g.model.value]) return false;
  if (!r.fractional()) return g.empty();
  auto [mem, comp] = share_need(g, r);
  return g.shares < pool.options().max_shares_per_gpu && mem <= g.memory_free() &&
         comp <= g.compute_free();
}

inline std::optional<Candidate> naive_place(const Pool& pool, const AllocationRequest& r,
                                            NaivePolicy policy) {
  const std::vector<char> accepted = accepted_models(pool, r);
  std::optional<Candidate> best;
  MiB best_free{-1};
  for (uint32_t n = 0; n < pool.node_count(); ++n) {
    const Node& node = pool.node(NodeIndex{n});
    if (r.fractional()) {
      for (GpuIndex gi : node.gpus) {
        const Gpu& g = pool.gpu(gi);
        if (!gpu_fits(pool, g, r, accepted)) continue;
        if (policy == NaivePolicy::kFirstFit)
          return Candidate{g.node, uint64_t{1} << g.local_index, gi};
        if (g.memory_free() > best_free) {
          best_free = g.memory_free();
          best = Candidate{g.node, uint64_t{1} << g.local_index, gi};
        }
      }
      continue;
    }
    uint64_t usable = 0;
    MiB node_free{0};
    for (GpuIndex gi : node.gpus) {
      const Gpu& g = pool.gpu(gi);
      node_free += g.memory_free();
      if (gpu_fits(pool, g, r, accepted)) usable |= uint64_t{1} << g.local_index;
    }
    if (std::popcount(usable) < r.gpus) continue;
    if (policy == NaivePolicy::kMostFreeMemory && node_free <= best_free) continue;
    GpuPick pick = pick_gpus(node, usable, r.gpus, r.topology);
    if (pick.mask == 0) continue;
    Candidate c{NodeIndex{n}, pick.mask, node.gpus[std::countr_zero(pick.mask)]};
    if (policy == NaivePolicy::kFirstFit) return c;
    best = std::move(c);
    best_free = node_free;
  }
  return best;
}

}  // namespace gf::bench
