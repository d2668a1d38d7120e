#include "placement/filters.h"

#include <algorithm>

namespace gf {

PlacementContext::PlacementContext(const Pool& p, const AllocationRequest& r)
    : pool(p),
      request(r),
      model_rank(p.model_count(), -1),
      tier(CapacityIndex::tier_for(r.allow_reserved)) {
  if (r.gpu_models.empty()) {
    std::fill(model_rank.begin(), model_rank.end(), 0);
    return;
  }
  for (size_t i = 0; i < r.gpu_models.size(); ++i) {
    if (auto m = p.find_model(r.gpu_models[i]); m && model_rank[m->value] < 0) {
      model_rank[m->value] = static_cast<int>(i);
    }
  }
}

MiB PlacementContext::memory_needed(const Gpu& g) const {
  if (!request.fractional()) return g.memory_total;
  if (request.memory_per_gpu) return *request.memory_per_gpu;
  return MiB(g.memory_total.value * request.compute->value / 1000);
}

MilliGpu PlacementContext::compute_needed(const Gpu& g) const {
  if (!request.fractional()) return kWholeGpu;
  if (request.compute) return *request.compute;
  int64_t total = g.memory_total.value;
  return MilliGpu(std::max<int64_t>(1, (request.memory_per_gpu->value * 1000 + total - 1) / total));
}

std::vector<GpuIndex> Candidate::gpus(const Pool& pool) const {
  std::vector<GpuIndex> out;
  const Node& n = pool.node(node);
  for (uint64_t m = mask; m != 0; m &= m - 1)
    out.push_back(n.gpus[std::countr_zero(m)]);
  return out;
}

const char* HealthFilter::filter(const PlacementContext& ctx, const GpuView& v) const {
  const Gpu& g = *v.gpu;
  if (allows_new_allocation(g.health, g.admin, ctx.request.allow_reserved)) return nullptr;
  switch (g.state()) {
    case GpuState::kReserved:
      return "Reserved (low free memory; request does not allow reserved GPUs)";
    case GpuState::kFaulty:
      return "Faulty";
    case GpuState::kProbation:
      return "in Probation";
    case GpuState::kCordoned:
      return "cordoned";
    case GpuState::kDraining:
      return "draining";
    case GpuState::kLost:
      return "Lost";
    default:
      return "unhealthy";
  }
}

const char* ModelFilter::filter(const PlacementContext& ctx, const GpuView& v) const {
  if (ctx.model_rank[v.gpu->model.value] < 0) return "wrong GPU model";
  // CUDA gives one process one MIG device: a tensor-parallel replica cannot span several.
  if (ctx.request.gpus > 1 && v.gpu->uuid.rfind("MIG-", 0) == 0)
    return "MIG device (a multi-GPU replica cannot span MIG devices)";
  return nullptr;
}

const char* MemoryFilter::filter(const PlacementContext& ctx, const GpuView& v) const {
  const Gpu& g = *v.gpu;
  if (!ctx.request.fractional()) return v.shares == 0 ? nullptr : "in use";
  if (v.shares >= ctx.pool.options().max_shares_per_gpu) return "share limit reached";
  if (ctx.memory_needed(g) > v.memory_free) {
    return ctx.memory_needed(g) > g.memory_total ? "GPU memory too small" : "insufficient memory";
  }
  if (ctx.compute_needed(g) > v.compute_free) return "insufficient compute";
  return nullptr;
}

}  // namespace gf
