#include "pool/pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>

namespace gf {
namespace {

Error invalid(std::string msg) {
  return make_error(ErrorCode::kInvalidArgument, std::move(msg));
}
Error precondition(std::string msg) {
  return make_error(ErrorCode::kFailedPrecondition, std::move(msg));
}

}  // namespace

bool model_allowed(const AllocationRequest& r, const std::string& model) {
  return r.gpu_models.empty() ||
         std::find(r.gpu_models.begin(), r.gpu_models.end(), model) != r.gpu_models.end();
}

AllocationRequest request_for(const DeploymentSpec& d, const std::string& tenant) {
  AllocationRequest r;
  r.deployment = d.name;
  r.model = d.model;
  r.tenant = tenant;
  r.gpus = d.resources.gpus;
  r.memory_per_gpu = d.resources.memory_per_gpu;
  r.compute = d.resources.compute;
  r.gpu_models = d.resources.gpu_models;
  r.allow_reserved = d.resources.allow_reserved;
  r.topology = d.resources.topology;
  r.priority = d.priority;
  return r;
}

const char* to_string(PoolEventKind k) {
  switch (k) {
    case PoolEventKind::kGpuStateChanged:
      return "GpuStateChanged";
    case PoolEventKind::kAllocated:
      return "Allocated";
    case PoolEventKind::kReleased:
      return "Released";
    case PoolEventKind::kReserved:
      return "Reserved";
    case PoolEventKind::kReservationReleased:
      return "ReservationReleased";
    case PoolEventKind::kNodeAdded:
      return "NodeAdded";
    case PoolEventKind::kNodeLost:
      return "NodeLost";
  }
  return "?";
}

Result<Pool> Pool::from_spec(const ClusterSpec& spec, TimePoint now, PoolOptions options) {
  Pool pool(options);
  for (const auto& n : spec.nodes) {
    auto r = pool.add_node(n, now);
    if (!r) return r.error();
  }
  return pool;
}

ModelIndex Pool::intern_model(const std::string& name) {
  if (auto m = find_model(name)) return *m;
  model_names_.push_back(name);
  index_.add_model();
  shapes_.emplace_back();
  return ModelIndex{static_cast<uint16_t>(model_names_.size() - 1)};
}

Result<NodeIndex> Pool::add_node(const NodeSpec& spec, TimePoint now) {
  if (spec.name.empty()) return invalid("a node needs a name");
  if (node_by_name_.count(spec.name) != 0) {
    return make_error(ErrorCode::kAlreadyExists,
                      fmt::format("node \"{}\" already exists", spec.name));
  }
  int total = 0;
  for (const auto& g : spec.gpus) {
    if (g.count < 1 || g.memory.value <= 0) {
      return invalid(
          fmt::format("node \"{}\": every GPU needs count >= 1 and memory > 0", spec.name));
    }
    total += g.count;
  }
  if (total > 64)
    return invalid(
        fmt::format("node \"{}\" has {} GPUs; at most 64 are supported", spec.name, total));
  std::vector<std::string> uuids;
  for (const auto& g : spec.gpus) {
    for (int i = 0; i < g.count; ++i) {
      std::string u =
          g.uuids.empty() ? fmt::format("GPU-{}-{}", spec.name, uuids.size()) : g.uuids[i];
      if (gpu_by_uuid_.count(u) != 0 || std::count(uuids.begin(), uuids.end(), u) != 0) {
        return make_error(ErrorCode::kAlreadyExists,
                          fmt::format("GPU UUID \"{}\" already exists", u));
      }
      uuids.push_back(u);
    }
  }
  Node node;
  node.name = spec.name;
  node.labels = spec.labels;
  for (const auto& group : spec.nvlink_groups) {
    uint64_t mask = 0;
    for (int i : group) {
      if (i < 0 || i >= total)
        return invalid(fmt::format("node \"{}\": NVLink group names GPU {}, which does not exist",
                                   spec.name, i));
      mask |= uint64_t{1} << i;
    }
    node.nvlink_groups.push_back(mask);
  }

  NodeIndex ni{static_cast<uint32_t>(nodes_.size())};
  index_.add_node();
  warm_.emplace_back();
  node_allocations_.emplace_back();
  int local = 0;
  for (const auto& g : spec.gpus) {
    ModelIndex m = intern_model(g.model);
    for (int i = 0; i < g.count; ++i, ++local) {
      Gpu gpu;
      gpu.uuid = uuids[local];
      gpu.node = ni;
      gpu.local_index = local;
      gpu.model = m;
      gpu.memory_total = g.memory;
      gpu.price_per_hour = g.price_per_hour;
      for (size_t gi = 0; gi < node.nvlink_groups.size(); ++gi) {
        if (node.nvlink_groups[gi] & (uint64_t{1} << local)) {
          gpu.nvlink_group = static_cast<int>(gi);
          gpu.nvlink_peers = node.nvlink_groups[gi] & ~(uint64_t{1} << local);
        }
      }
      GpuIndex gidx{static_cast<uint32_t>(gpus_.size())};
      gpu_by_uuid_[gpu.uuid] = gidx;
      node.gpus.push_back(gidx);
      gpus_.push_back(std::move(gpu));
      index_.add_gpu();
      reindex(gidx);
    }
  }
  // Grow each model's shape with what this node can offer.
  std::map<uint16_t, uint64_t> by_model;
  for (GpuIndex gi : node.gpus) {
    const Gpu& g = gpus_[gi.value];
    by_model[g.model.value] |= uint64_t{1} << g.local_index;
    shapes_[g.model.value].max_memory = std::max(shapes_[g.model.value].max_memory, g.memory_total);
  }
  for (const auto& [m, mask] : by_model) {
    ModelShape& s = shapes_[m];
    s.max_on_node = std::max(s.max_on_node, std::popcount(mask));
    s.max_linked = std::max(s.max_linked, 1);
    for (uint64_t grp : node.nvlink_groups)
      s.max_linked = std::max(s.max_linked, std::popcount(grp & mask));
  }
  node_by_name_[spec.name] = ni;
  nodes_.push_back(std::move(node));
  record(now, PoolEventKind::kNodeAdded, spec.name, "", "", fmt::format("{} GPUs", total));
  return ni;
}

std::optional<ModelIndex> Pool::find_model(const std::string& name) const {
  for (size_t i = 0; i < model_names_.size(); ++i) {
    if (model_names_[i] == name) return ModelIndex{static_cast<uint16_t>(i)};
  }
  return std::nullopt;
}

std::optional<NodeIndex> Pool::find_node(const std::string& name) const {
  auto it = node_by_name_.find(name);
  if (it == node_by_name_.end()) return std::nullopt;
  return it->second;
}

std::optional<GpuIndex> Pool::find_gpu(const std::string& uuid) const {
  auto it = gpu_by_uuid_.find(uuid);
  if (it == gpu_by_uuid_.end()) return std::nullopt;
  return it->second;
}

const Allocation* Pool::allocation(AllocationId id) const {
  auto it = allocations_.find(id);
  return it == allocations_.end() ? nullptr : &it->second;
}

MilliGpu Pool::tenant_usage(const std::string& tenant) const {
  auto it = tenant_usage_.find(tenant);
  return it == tenant_usage_.end() ? MilliGpu(0) : it->second;
}

std::optional<uint32_t> Pool::find_served(const std::string& model) const {
  auto it = served_ids_.find(model);
  if (it == served_ids_.end()) return std::nullopt;
  return it->second;
}

int Pool::replicas_serving(NodeIndex n, uint32_t served) const {
  for (const auto& [id, count] : warm_[n.value]) {
    if (id == served) return count;
  }
  return 0;
}

bool Pool::warm(NodeIndex n, uint32_t served) const {
  return replicas_serving(n, served) > 0;
}

bool Pool::warm(NodeIndex n, const std::string& model) const {
  auto id = find_served(model);
  return id && warm(n, *id);
}

void Pool::add_warm(NodeIndex n, const std::string& model, int delta) {
  auto [it, fresh] = served_ids_.emplace(model, static_cast<uint32_t>(served_ids_.size()));
  auto& counts = warm_[n.value];
  for (auto c = counts.begin(); c != counts.end(); ++c) {
    if (c->first != it->second) continue;
    c->second += delta;
    if (c->second == 0) counts.erase(c);
    return;
  }
  counts.emplace_back(it->second, delta);
}

Result<AllocationId> Pool::commit(const AllocationRequest& r, NodeIndex n,
                                  const std::vector<GpuIndex>& gpus, TimePoint now,
                                  ReservationId for_reservation) {
  if (r.gpus < 1) return invalid(fmt::format("a request needs at least 1 GPU, got {}", r.gpus));
  if (r.fractional() && r.gpus != 1)
    return invalid("a fractional share must ask for exactly 1 GPU");
  if (r.memory_per_gpu && r.memory_per_gpu->value <= 0) {
    return invalid(
        fmt::format("memory per GPU must be positive, got {}MiB", r.memory_per_gpu->value));
  }
  if (r.compute && (r.compute->value <= 0 || r.compute->value > 1000)) {
    return invalid(fmt::format("a compute share must be in (0, 1000m], got {}m", r.compute->value));
  }
  if (n.value >= nodes_.size())
    return make_error(ErrorCode::kNotFound, fmt::format("no node with index {}", n.value));
  if (gpus.size() != static_cast<size_t>(r.gpus)) {
    return invalid(fmt::format("request asks for {} GPUs but {} were given", r.gpus, gpus.size()));
  }
  if (for_reservation.valid() && reservations_.count(for_reservation) == 0) {
    return make_error(ErrorCode::kNotFound,
                      fmt::format("no reservation {}", to_string(for_reservation)));
  }
  const Node& node = nodes_[n.value];
  uint64_t mask = 0;
  for (GpuIndex gi : gpus) {
    if (gi.value >= gpus_.size())
      return make_error(ErrorCode::kNotFound, fmt::format("no GPU with index {}", gi.value));
    const Gpu& g = gpus_[gi.value];
    if (g.node != n)
      return invalid(fmt::format("GPU {} is not on node {}: a replica's GPUs must share a node",
                                 g.uuid, node.name));
    uint64_t bit = uint64_t{1} << g.local_index;
    if (mask & bit) return invalid(fmt::format("GPU {} is listed twice", g.uuid));
    mask |= bit;
    if (!model_allowed(r, model_names_[g.model.value])) {
      return precondition(fmt::format("GPU {} is a {}, which the request does not accept", g.uuid,
                                      model_names_[g.model.value]));
    }
    if (!allows_new_allocation(g.health, g.admin, r.allow_reserved)) {
      return precondition(
          fmt::format("GPU {} is {} and takes no new allocations", g.uuid, to_string(g.state())));
    }
  }
  if (r.gpus > 1 && r.topology == TopologyPolicy::kNvlinkRequired) {
    bool linked = std::any_of(node.nvlink_groups.begin(), node.nvlink_groups.end(),
                              [&](uint64_t grp) { return (grp & mask) == mask; });
    if (!linked)
      return precondition("the GPUs do not share one NVLink group, which the request requires");
  }

  Allocation a;
  a.request = r;
  a.node = n;
  a.gpus = gpus;
  a.reservation = for_reservation;
  if (!r.fractional()) {
    for (GpuIndex gi : gpus) {
      if (!gpus_[gi.value].empty())
        return precondition(fmt::format("GPU {} is already in use", gpus_[gi.value].uuid));
    }
    a.compute_per_gpu = kWholeGpu;
  } else {
    const Gpu& g = gpus_[gpus[0].value];
    MiB mem =
        r.memory_per_gpu ? *r.memory_per_gpu : MiB(g.memory_total.value * r.compute->value / 1000);
    MilliGpu comp =
        r.compute ? *r.compute
                  : MilliGpu(std::max<int64_t>(
                        1, (mem.value * 1000 + g.memory_total.value - 1) / g.memory_total.value));
    if (g.shares >= options_.max_shares_per_gpu) {
      return precondition(
          fmt::format("GPU {} already holds {} shares, the limit", g.uuid, g.shares));
    }
    if (mem > g.memory_free()) {
      return precondition(fmt::format("GPU {} has {} free, the request needs {}", g.uuid,
                                      format_mib(g.memory_free()), format_mib(mem)));
    }
    if (comp > g.compute_free()) {
      return precondition(fmt::format("GPU {} has {} compute free, the request needs {}", g.uuid,
                                      format_milli_gpu(g.compute_free()), format_milli_gpu(comp)));
    }
    a.memory_per_gpu = mem;
    a.compute_per_gpu = comp;
  }

  a.id = AllocationId{next_allocation_++};
  for (GpuIndex gi : gpus) {
    Gpu& g = gpus_[gi.value];
    MiB mem = r.fractional() ? a.memory_per_gpu : g.memory_total;
    g.memory_committed += mem;
    g.compute_committed += a.compute_per_gpu;
    g.shares += 1;
    reindex(gi);
  }
  if (!r.fractional()) a.memory_per_gpu = gpus_[gpus[0].value].memory_total;
  if (!r.tenant.empty()) tenant_usage_[r.tenant] += a.compute_per_gpu * r.gpus;
  if (for_reservation.valid()) {
    reservations_[for_reservation].slots.push_back(a.id);
    record(now, PoolEventKind::kReserved, to_string(a.id), "", node.name,
           fmt::format("held for deployment {}", r.deployment));
  } else {
    add_warm(n, r.model, 1);
    record(now, PoolEventKind::kAllocated, to_string(a.id), "", node.name, r.deployment);
  }
  AllocationId id = a.id;
  node_allocations_[a.node.value].insert(id);
  allocations_.emplace(id, std::move(a));
  return id;
}

void Pool::erase_allocation(std::map<AllocationId, Allocation>::iterator it) {
  node_allocations_[it->second.node.value].erase(it->first);
  allocations_.erase(it);
}

void Pool::uncommit(const Allocation& a) {
  for (GpuIndex gi : a.gpus) {
    Gpu& g = gpus_[gi.value];
    g.memory_committed -= a.request.fractional() ? a.memory_per_gpu : g.memory_total;
    g.compute_committed -= a.compute_per_gpu;
    g.shares -= 1;
    reindex(gi);
  }
  if (!a.request.tenant.empty())
    tenant_usage_[a.request.tenant] -= a.compute_per_gpu * a.request.gpus;
}

Status Pool::release(AllocationId id, TimePoint now, const std::string& reason) {
  auto it = allocations_.find(id);
  if (it == allocations_.end()) {
    if (id.valid() && id.value < next_allocation_) {
      return precondition(fmt::format("{} was already released", to_string(id)));
    }
    return make_error(ErrorCode::kNotFound, fmt::format("{} was never allocated", to_string(id)));
  }
  Allocation& a = it->second;
  if (a.is_slot()) {
    if (a.bound_replica.valid()) {
      return precondition(fmt::format("{} is a reservation slot in use by {}; release that first",
                                      to_string(id), to_string(a.bound_replica)));
    }
    // An idle slot may go (preemption shrinks the reservation); its capacity returns to the pool.
    auto& slots = reservations_[a.reservation].slots;
    slots.erase(std::remove(slots.begin(), slots.end(), id), slots.end());
    uncommit(a);
    record(now, PoolEventKind::kReleased, to_string(id), "", nodes_[a.node.value].name, reason);
    erase_allocation(it);
    return {};
  }
  if (a.slot.valid()) {
    // The slot keeps the capacity for its deployment, unless its reservation is gone.
    auto s = allocations_.find(a.slot);
    s->second.bound_replica = {};
    if (reservations_.count(s->second.reservation) == 0) {
      uncommit(s->second);
      erase_allocation(s);
    }
  } else {
    uncommit(a);
  }
  add_warm(a.node, a.request.model, -1);
  record(now, PoolEventKind::kReleased, to_string(id), "", nodes_[a.node.value].name, reason);
  erase_allocation(it);
  return {};
}

ReservationId Pool::create_reservation(const std::string& deployment) {
  ReservationId id{next_reservation_++};
  reservations_[id] = Reservation{id, deployment, {}};
  return id;
}

const Reservation* Pool::reservation(ReservationId id) const {
  auto it = reservations_.find(id);
  return it == reservations_.end() ? nullptr : &it->second;
}

std::optional<AllocationId> Pool::free_slot_for(const AllocationRequest& r) const {
  for (const auto& [rid, res] : reservations_) {
    if (res.deployment != r.deployment) continue;
    for (AllocationId sid : res.slots) {
      const Allocation& s = allocations_.at(sid);
      if (!s.bound_replica.valid() && s.request.gpus == r.gpus &&
          s.request.memory_per_gpu == r.memory_per_gpu && s.request.compute == r.compute) {
        return sid;
      }
    }
  }
  return std::nullopt;
}

Result<AllocationId> Pool::bind_slot(AllocationId slot, const AllocationRequest& r, TimePoint now) {
  auto it = allocations_.find(slot);
  if (it == allocations_.end() || !it->second.is_slot()) {
    return make_error(ErrorCode::kNotFound,
                      fmt::format("{} is not a reservation slot", to_string(slot)));
  }
  Allocation& s = it->second;
  if (s.bound_replica.valid())
    return precondition(
        fmt::format("{} is already in use by {}", to_string(slot), to_string(s.bound_replica)));
  if (s.request.deployment != r.deployment) {
    return precondition(fmt::format("{} is held for deployment {}, not {}", to_string(slot),
                                    s.request.deployment, r.deployment));
  }
  for (GpuIndex gi : s.gpus) {
    const Gpu& g = gpus_[gi.value];
    if (!allows_new_allocation(g.health, g.admin, true)) {
      return precondition(
          fmt::format("GPU {} is {} and takes no new allocations", g.uuid, to_string(g.state())));
    }
  }
  Allocation a;
  a.id = AllocationId{next_allocation_++};
  a.request = r;
  a.node = s.node;
  a.gpus = s.gpus;
  a.memory_per_gpu = s.memory_per_gpu;
  a.compute_per_gpu = s.compute_per_gpu;
  a.slot = slot;
  s.bound_replica = a.id;
  add_warm(a.node, r.model, 1);
  record(now, PoolEventKind::kAllocated, to_string(a.id), "", nodes_[a.node.value].name,
         fmt::format("{} (in reserved {})", r.deployment, to_string(slot)));
  AllocationId id = a.id;
  node_allocations_[a.node.value].insert(id);
  allocations_.emplace(id, std::move(a));
  return id;
}

Status Pool::release_reservation(ReservationId id, TimePoint now) {
  auto it = reservations_.find(id);
  if (it == reservations_.end())
    return make_error(ErrorCode::kNotFound, fmt::format("no reservation {}", to_string(id)));
  for (AllocationId sid : it->second.slots) {
    auto s = allocations_.find(sid);
    if (s->second.bound_replica.valid()) continue;  // freed with its replica
    uncommit(s->second);
    erase_allocation(s);
  }
  record(now, PoolEventKind::kReservationReleased, to_string(id), "", "", it->second.deployment);
  reservations_.erase(it);
  return {};
}

Status Pool::set_health(GpuIndex gi, Health to, const std::string& reason, TimePoint now) {
  if (gi.value >= gpus_.size())
    return make_error(ErrorCode::kNotFound, fmt::format("no GPU with index {}", gi.value));
  Gpu& g = gpus_[gi.value];
  if (g.health == to) return {};
  if (!health_transition_allowed(g.health, to)) {
    return precondition(
        fmt::format("GPU {} cannot go from {} to {} (a recovering GPU passes through Probation)",
                    g.uuid, to_string(g.health), to_string(to)));
  }
  GpuState before = g.state();
  auto unusable = [](Health h) { return h == Health::kFaulty || h == Health::kLost; };
  faulty_or_lost_ = faulty_or_lost_ - unusable(g.health) + unusable(to);
  g.health = to;
  g.state_reason = reason;
  reindex(gi);
  record(now, PoolEventKind::kGpuStateChanged, g.uuid, to_string(before), to_string(g.state()),
         reason);
  return {};
}

Status Pool::set_admin(GpuIndex gi, AdminState to, const std::string& reason, TimePoint now) {
  if (gi.value >= gpus_.size())
    return make_error(ErrorCode::kNotFound, fmt::format("no GPU with index {}", gi.value));
  Gpu& g = gpus_[gi.value];
  if (g.admin == to) return {};
  GpuState before = g.state();
  g.admin = to;
  g.state_reason = reason;
  reindex(gi);
  record(now, PoolEventKind::kGpuStateChanged, g.uuid, to_string(before), to_string(g.state()),
         reason);
  return {};
}

Status Pool::set_node_admin(NodeIndex n, AdminState to, const std::string& reason, TimePoint now) {
  if (n.value >= nodes_.size())
    return make_error(ErrorCode::kNotFound, fmt::format("no node with index {}", n.value));
  for (GpuIndex gi : nodes_[n.value].gpus) {
    Status s = set_admin(gi, to, reason, now);
    if (!s) return s;
  }
  return {};
}

std::vector<AllocationId> Pool::mark_node_lost(NodeIndex n, const std::string& reason,
                                               TimePoint now) {
  std::vector<AllocationId> affected;
  if (n.value >= nodes_.size()) return affected;
  Node& node = nodes_[n.value];
  if (!node.lost) record(now, PoolEventKind::kNodeLost, node.name, "", "", reason);
  node.lost = true;
  for (GpuIndex gi : node.gpus)
    (void)set_health(gi, Health::kLost, reason, now);
  for (AllocationId id : node_allocations_[n.value]) {
    if (!allocations_.at(id).is_slot()) affected.push_back(id);
  }
  return affected;
}

void Pool::mark_node_returned(NodeIndex n, TimePoint now) {
  if (n.value >= nodes_.size() || !nodes_[n.value].lost) return;
  nodes_[n.value].lost = false;
  for (GpuIndex gi : nodes_[n.value].gpus) {
    if (gpus_[gi.value].health == Health::kLost)
      (void)set_health(gi, Health::kProbation, "node heartbeats again", now);
  }
}

void Pool::record(TimePoint now, PoolEventKind kind, std::string subject, std::string from,
                  std::string to, std::string reason) {
  if (options_.max_events == 0) return;
  if (events_.size() >= options_.max_events) {
    events_.pop_front();
    ++dropped_events_;
  }
  events_.push_back(
      PoolEvent{now, kind, std::move(subject), std::move(from), std::move(to), std::move(reason)});
}

std::vector<PoolEvent> Pool::take_events() {
  std::vector<PoolEvent> out(std::make_move_iterator(events_.begin()),
                             std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

}  // namespace gf
