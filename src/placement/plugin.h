// Placement's extension points, after kube-scheduler's framework: Filter plugins say what may not
// be placed where (per request, per GPU or per node) and why; Score plugins rank whole candidate
// placements. Both are made by name from the registries in filter_registry.h and score_registry.h.
#pragma once

#include <bit>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "placement/gpu_picker.h"
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

// What the filter registry makes. A filter judges at exactly one level, by deriving from one of
// the three interfaces below; the scheduler sorts them by level once, when it is created, so a
// GPU-level loop never calls a plugin that only judges requests.
class FilterPlugin {
 public:
  virtual ~FilterPlugin() = default;
  virtual std::string_view name() const = 0;
};

// Judges the request as a whole, once, before any GPU is looked at (kube-scheduler's PreFilter).
class RequestFilter : public FilterPlugin {
 public:
  // OK, or why the request cannot be placed: kUnschedulable when freeing capacity could help,
  // kInfeasible when nothing could; the message is what the user reads.
  virtual Status admit(const PlacementContext& ctx) const = 0;
};

// Judges one GPU.
class GpuFilter : public FilterPlugin {
 public:
  // nullptr when the GPU passes; otherwise a short static reason ("insufficient memory") that
  // diagnostics count across GPUs.
  virtual const char* filter(const PlacementContext& ctx, const GpuView& gpu) const = 0;
};

// Judges one node, given the GPUs there that passed every GPU filter.
class NodeFilter : public FilterPlugin {
 public:
  // From `usable` (local-index mask), the GPUs the request would take on `node`: exactly
  // request.gpus of them, or mask 0 and a short static reason. Node filters run in list order,
  // each on what the one before chose.
  virtual GpuPick pick(const PlacementContext& ctx, const Node& node, uint64_t usable) const = 0;
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
