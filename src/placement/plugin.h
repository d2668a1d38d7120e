// Placement's extension points, after kube-scheduler's framework: Filter plugins judge one GPU
// and give a reason when it does not fit; Score plugins rank whole candidate placements.
#pragma once

#include <bit>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pool/pool.h"

namespace gf {

// A GPU as placement sees it. Usually the pool's own numbers; during preemption planning, the
// numbers it would have after the victims are gone.
struct GpuView {
  GpuIndex index;
  const Gpu* gpu = nullptr;
  MiB memory_free{0};
  MilliGpu compute_free{0};
  int shares = 0;
};

// What every plugin may read while one request is placed.
struct PlacementContext {
  const Pool& pool;
  const AllocationRequest& request;
  std::vector<int> model_rank;  // per ModelIndex: position in request.gpu_models, -1 = not accepted
  int tier = 0;                 // CapacityIndex tier

  PlacementContext(const Pool& p, const AllocationRequest& r);
  // Memory and compute one share needs on this GPU (whole GPUs need all of it).
  MiB memory_needed(const Gpu& g) const;
  MilliGpu compute_needed(const Gpu& g) const;
};

// A node and the GPUs a request would get there, as a mask of local indices: candidates are made
// and dropped by the dozen per decision, so they must not allocate.
struct Candidate {
  NodeIndex node;
  uint64_t mask = 0;
  GpuIndex first;  // the lowest chosen GPU

  int count() const { return std::popcount(mask); }
  std::vector<GpuIndex> gpus(const Pool& pool) const;
};

class FilterPlugin {
 public:
  virtual ~FilterPlugin() = default;
  virtual std::string_view name() const = 0;
  // nullptr when the GPU passes; otherwise a short static reason ("insufficient memory") that
  // diagnostics count across GPUs.
  virtual const char* filter(const PlacementContext& ctx, const GpuView& gpu) const = 0;
};

class ScorePlugin {
 public:
  virtual ~ScorePlugin() = default;
  virtual std::string_view name() const = 0;
  // Writes one score in [0, 100] per candidate. Seeing all candidates at once lets a plugin
  // normalise (kube-scheduler's NormalizeScore).
  virtual void score(const PlacementContext& ctx, std::span<const Candidate> candidates,
                     std::span<int64_t> out) const = 0;
};

}  // namespace gf
