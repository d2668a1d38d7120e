// Placement: runs the filter and score plugins over a few candidates drawn from the pool's
// capacity index, explains every failure, and plans preemption. Pure: it reads the pool and
// returns a decision; the caller commits it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/spec.h"
#include "placement/plugin.h"
#include "pool/pool.h"

namespace gf {

struct PreemptionPlan {
  Candidate placement;  // where the request goes once the victims are gone
  // Fewest possible, then lowest priorities. A reservation slot in use stands for the replica in
  // it and itself: carrying the plan out releases that replica (its bound_replica), then the slot.
  std::vector<AllocationId> victims;
};

struct Decision {
  std::optional<Candidate> placement;
  std::optional<AllocationId> slot;  // placed in a reservation slot of its deployment
  // When not placed: kUnschedulable (freeing capacity could help) or kInfeasible (nothing could).
  ErrorCode code = ErrorCode::kUnschedulable;
  std::string reason;  // "0/10 GPUs fit: 6 insufficient memory, 4 wrong GPU model"
  std::map<std::string, int> gpu_reasons;  // reason -> GPU count
  std::optional<PreemptionPlan> preemption;

  bool placed() const { return placement.has_value() || slot.has_value(); }
};

// What place() computes beyond the decision. Both are full scans of the cluster (kube-scheduler
// pays for them on every failure too); a caller that retries a pending request every second can
// ask once and reuse the answer.
struct PlaceOptions {
  bool explain = true;  // per-GPU and per-node reasons in Decision::reason / gpu_reasons
  bool preempt = true;  // a preemption plan when the request is unschedulable
  // The caller's own rule on top of "strictly lower priority": false spares the allocation (the
  // fleet spares its own deployment's replicas and deployments whose priority rose since). Empty:
  // every lower-priority allocation may be a victim.
  std::function<bool(const Allocation&)> may_preempt;
};

// Counts rejections by reason. Reasons are static strings, so counting compares pointers: an
// explanation walks every GPU and must not allocate per GPU.
class ReasonCounts {
 public:
  void add(const char* reason) {
    for (auto& [r, n] : counts_) {
      if (r == reason) {
        ++n;
        return;
      }
    }
    counts_.emplace_back(reason, 1);
  }
  bool empty() const { return counts_.empty(); }
  std::map<std::string, int> to_map() const {
    std::map<std::string, int> m;
    for (const auto& [r, n] : counts_)
      m[r] += n;
    return m;
  }

 private:
  std::vector<std::pair<const char*, int>> counts_;
};

class Scheduler {
 public:
  // Fails on unknown plugin names (the error lists the known ones), negative weights or a missing
  // hard-rule filter. Plugins are made by name from filter_registry.h and score_registry.h.
  static Result<Scheduler> create(const PlacementSpec& spec);

  // Where `request` should go now. Never mutates the pool.
  Decision place(const Pool& pool, const AllocationRequest& request,
                 PlaceOptions options = {}) const;

  // place() and commit in one step: the common case for callers that own the pool. When preemption
  // could help, the error carries the plan's victims in its message; use place() to act on it.
  Result<AllocationId> schedule(Pool& pool, const AllocationRequest& request, TimePoint now) const;

  // Holds `count` slots of request's shape for request.deployment only.
  Result<ReservationId> reserve(Pool& pool, const AllocationRequest& request, int count,
                                TimePoint now) const;
  // Holds one more slot of request's shape in `reservation`, from free capacity only: never one of
  // the deployment's own slots, never by preemption (a reserve is headroom, not demand). Without
  // `explain` a failure's reason is short: a caller retrying every tick skips the full scan.
  Result<AllocationId> hold_slot(Pool& pool, ReservationId reservation,
                                 const AllocationRequest& request, TimePoint now,
                                 bool explain = true) const;

  const PlacementSpec& spec() const { return spec_; }

 private:
  struct WeightedScore {
    std::unique_ptr<ScorePlugin> plugin;
    int weight = 0;
  };

  Decision place_impl(const Pool& pool, const AllocationRequest& request, bool use_slots,
                      PlaceOptions options) const;
  void add_filter(std::unique_ptr<FilterPlugin> plugin);
  // The first GPU filter's reason to reject this GPU, or nullptr.
  const char* first_failure(const PlacementContext& ctx, const GpuView& v) const;
  // The GPUs of `node` that pass every filter, as a local-index mask; counts failures if asked.
  // `adjusted` replaces the pool's numbers (preemption's what-if), by local index.
  uint64_t usable_gpus(const PlacementContext& ctx, NodeIndex node,
                       const std::vector<GpuView>* adjusted, ReasonCounts* reasons) const;
  // The request's GPUs among `usable` of node `n`, as the node filters choose them.
  GpuPick pick_on_node(const PlacementContext& ctx, NodeIndex n, uint64_t usable) const;
  std::optional<Candidate> try_node(const PlacementContext& ctx, NodeIndex node,
                                    ReasonCounts* reasons, const char** topo_reason) const;
  std::optional<Candidate> try_gpu(const PlacementContext& ctx, GpuIndex gpu) const;
  std::vector<Candidate> candidates(const PlacementContext& ctx, bool exhaustive) const;
  size_t best(const PlacementContext& ctx, const std::vector<Candidate>& cands) const;
  void diagnose(const PlacementContext& ctx, Decision& d) const;
  bool feasible_on_empty_cluster(const PlacementContext& ctx) const;
  std::optional<PreemptionPlan> plan_preemption(const PlacementContext& ctx,
                                                const PlaceOptions& options) const;

  PlacementSpec spec_;
  std::vector<std::unique_ptr<FilterPlugin>> filters_;  // owns them; the lists below borrow
  std::vector<const RequestFilter*> request_filters_;
  std::vector<const GpuFilter*> gpu_filters_;
  std::vector<const NodeFilter*> node_filters_;
  std::vector<WeightedScore> scores_;
};

GpuView view_of(const Pool& pool, GpuIndex gpu);
std::vector<GpuView> node_views(const Pool& pool, NodeIndex node);

}  // namespace gf
