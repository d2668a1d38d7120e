// The GPU pool: inventory, health and operator states, and exact integer accounting of what each
// allocation holds. This is mechanism only; which GPUs to use is placement's decision (policy).
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "common/spec.h"
#include "pool/allocation.h"
#include "pool/capacity_index.h"
#include "pool/inventory.h"
#include "pool/pool_event.h"

namespace gf {

struct PoolOptions {
  int max_shares_per_gpu = 8;  // fractional replicas on one GPU, at most
  size_t max_events = 10000;   // event buffer; the oldest are dropped when shells don't drain it
};

// The largest request each GPU model could ever take, from the inventory alone (state ignored).
struct ModelShape {
  int max_on_node = 0;  // GPUs of the model on one node
  int max_linked = 0;   // GPUs of the model in one NVLink clique (1 if PCIe only)
  MiB max_memory{0};    // memory of the largest GPU of the model
};

struct Reservation {
  ReservationId id;
  std::string deployment;
  std::vector<AllocationId> slots;
};

class Pool {
 public:
  explicit Pool(PoolOptions options = {}) : options_(options) {}
  static Result<Pool> from_spec(const ClusterSpec& spec, TimePoint now, PoolOptions options = {});

  Result<NodeIndex> add_node(const NodeSpec& spec, TimePoint now);

  // ---- lookups
  size_t node_count() const { return nodes_.size(); }
  size_t gpu_count() const { return gpus_.size(); }
  size_t model_count() const { return model_names_.size(); }
  const Node& node(NodeIndex n) const { return nodes_[n.value]; }
  const Gpu& gpu(GpuIndex g) const { return gpus_[g.value]; }
  const std::string& model_name(ModelIndex m) const { return model_names_[m.value]; }
  std::optional<ModelIndex> find_model(const std::string& name) const;
  std::optional<NodeIndex> find_node(const std::string& name) const;
  std::optional<GpuIndex> find_gpu(const std::string& uuid) const;
  const Allocation* allocation(AllocationId id) const;
  const std::map<AllocationId, Allocation>& allocations() const { return allocations_; }
  const CapacityIndex& index() const { return index_; }
  const ModelShape& shape(ModelIndex m) const { return shapes_[m.value]; }
  const PoolOptions& options() const { return options_; }
  MilliGpu tenant_usage(const std::string& tenant) const;
  // GPUs whose health is Faulty or Lost: while there are none, nothing needs evacuating, and the
  // fleet skips the scan over every replica (#18).
  size_t faulty_or_lost() const { return faulty_or_lost_; }
  // Whether a replica serving `model` already runs on the node (its weights are likely cached).
  // Served models get small ids so that placement compares integers per candidate.
  bool warm(NodeIndex n, const std::string& model) const;
  bool warm(NodeIndex n, uint32_t served) const;
  // How many replicas serving `served` run on the node (placement's replica-spread score).
  int replicas_serving(NodeIndex n, uint32_t served) const;
  std::optional<uint32_t> find_served(const std::string& model) const;

  // ---- allocation mechanism
  // Commits `request` on exactly these GPUs, after checking every rule again: one node, allowed
  // states, capacity, share cap, distinct GPUs. Placement chooses the GPUs; this only applies.
  Result<AllocationId> commit(const AllocationRequest& request, NodeIndex node,
                              const std::vector<GpuIndex>& gpus, TimePoint now,
                              ReservationId for_reservation = {});
  // Frees exactly what commit took. A second release of the same id changes nothing and says so.
  // An idle reservation slot can be released too (its reservation shrinks); one in use cannot.
  Status release(AllocationId id, TimePoint now, const std::string& reason = "released");

  // ---- reservations: capacity held for one deployment
  ReservationId create_reservation(const std::string& deployment);
  const Reservation* reservation(ReservationId id) const;
  // An unbound slot of `request.deployment` with the same shape, if any.
  std::optional<AllocationId> free_slot_for(const AllocationRequest& request) const;
  // Runs a replica in a held slot: no new capacity is committed.
  Result<AllocationId> bind_slot(AllocationId slot, const AllocationRequest& request,
                                 TimePoint now);
  // Frees unbound slots now; bound ones are freed when their replica is released.
  Status release_reservation(ReservationId id, TimePoint now);

  // ---- health and operator actions
  Status set_health(GpuIndex g, Health to, const std::string& reason, TimePoint now);
  Status set_admin(GpuIndex g, AdminState to, const std::string& reason, TimePoint now);
  Status set_node_admin(NodeIndex n, AdminState to, const std::string& reason, TimePoint now);
  // Every GPU of the node becomes Lost. Returns the allocations that were running there, for the
  // controller to release and place again.
  std::vector<AllocationId> mark_node_lost(NodeIndex n, const std::string& reason, TimePoint now);
  // A lost node heartbeats again: its GPUs go to Probation (their reported health follows).
  void mark_node_returned(NodeIndex n, TimePoint now);
  void update_telemetry(GpuIndex g, const GpuTelemetry& t) { gpus_[g.value].telemetry = t; }

  // ---- events
  std::vector<PoolEvent> take_events();
  uint64_t dropped_events() const { return dropped_events_; }

 private:
  ModelIndex intern_model(const std::string& name);
  void record(TimePoint now, PoolEventKind kind, std::string subject, std::string from,
              std::string to, std::string reason);
  void reindex(GpuIndex g) { index_.update(g, gpus_[g.value], options_.max_shares_per_gpu); }
  void uncommit(const Allocation& a);
  void erase_allocation(std::map<AllocationId, Allocation>::iterator it);

  PoolOptions options_;
  std::vector<Node> nodes_;
  std::vector<Gpu> gpus_;
  std::vector<std::string> model_names_;
  std::unordered_map<std::string, NodeIndex> node_by_name_;
  std::unordered_map<std::string, GpuIndex> gpu_by_uuid_;
  std::map<AllocationId, Allocation> allocations_;
  // Per node, the allocations on it: a lost node's are found without reading the whole fleet's.
  std::vector<std::set<AllocationId>> node_allocations_;
  std::map<ReservationId, Reservation> reservations_;
  std::unordered_map<std::string, MilliGpu> tenant_usage_;
  void add_warm(NodeIndex n, const std::string& model, int delta);

  std::unordered_map<std::string, uint32_t> served_ids_;
  std::vector<std::vector<std::pair<uint32_t, int>>> warm_;  // per node: (served id, replicas)
  CapacityIndex index_;
  std::vector<ModelShape> shapes_;  // per model
  uint64_t next_allocation_ = 1;
  uint64_t next_reservation_ = 1;
  std::deque<PoolEvent> events_;
  uint64_t dropped_events_ = 0;
  size_t faulty_or_lost_ = 0;
};

}  // namespace gf
