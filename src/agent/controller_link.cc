#include "agent/controller_link.h"

#include "common/gpu_catalog.h"

#include "agent/load_summary.h"

#include <algorithm>
#include <map>
#include <set>

namespace gf {

std::vector<std::vector<int>> nvlink_groups(const std::vector<GpuInfo>& gpus) {
  std::set<std::vector<int>> groups;
  for (const auto& g : gpus) {
    if (g.nvlink_peers.empty()) continue;
    std::vector<int> group = g.nvlink_peers;
    group.push_back(g.index);
    std::sort(group.begin(), group.end());
    group.erase(std::unique(group.begin(), group.end()), group.end());
    groups.insert(group);
  }
  return {groups.begin(), groups.end()};
}

void ControllerLink::add_events(const std::vector<HealthTransition>& transitions) {
  for (const auto& t : transitions) {
    pending_.push_back(HealthEventReport{t.gpu, t.from, t.to, t.reason});
    reasons_[t.gpu] = t.reason;
  }
}

NodeReport ControllerLink::build(const GpuMonitor& monitor, const ReplicaSet& replicas,
                                 TimePoint now) {
  NodeReport h;
  h.node = cfg_.node;
  h.agent_id = cfg_.agent_id;
  h.seq = ++seq_;
  h.host = cfg_.host;
  h.port = cfg_.port;
  h.labels = cfg_.labels;
  // Each report's index is its position, which the controller takes as the device's index on the
  // node; NVLink groups are restated in positions. A GPU in MIG mode is reported as its MIG
  // devices (the units engines run on), each with the parent's health and telemetry.
  std::map<int, int> position;  // NVML index of a whole GPU -> its position
  for (const DeviceRef& d : devices_of(monitor.gpus())) {
    const GpuInfo& g = *d.gpu;
    GpuReport r;
    r.uuid = d.uuid;
    r.index = static_cast<int>(h.gpus.size());
    // The catalogue name ("H100-80GB", "A100-80GB-MIG-3g.40gb") that manifests, prices and the
    // perf model use, for the product name NVML reports; an unknown GPU keeps its own.
    r.name = catalogue_gpu_name(d.product, d.memory);
    r.memory = d.memory;
    // A lost GPU is reported, Lost: left out, the controller kept its last health (Healthy) and
    // its replica assigned to it. A MIG device has its GPU's health and telemetry.
    r.health = g.lost ? Health::kLost : monitor.health().health(g.uuid);
    if (auto why = reasons_.find(g.uuid); why != reasons_.end()) r.reason = why->second;
    if (auto s = monitor.last_samples().find(g.uuid); s != monitor.last_samples().end()) {
      r.utilization_pct = s->second.utilization_pct.value_or(0);
      r.temperature_c = s->second.temperature_c.value_or(0);
      r.power_w = static_cast<int>(s->second.power_w.value_or(0));
      // The GPU's memory use is not split by MIG device: left out for those.
      if (s->second.memory_used && !g.mig_enabled)
        r.memory_used = to_mib_floor(*s->second.memory_used);
    }
    if (!g.mig_enabled) position[g.index] = r.index;
    h.gpus.push_back(std::move(r));
  }
  for (const auto& group : nvlink_groups(monitor.gpus())) {
    std::vector<int> at;
    for (int i : group)
      if (auto p = position.find(i); p != position.end()) at.push_back(p->second);
    if (at.size() > 1) h.nvlink_groups.push_back(std::move(at));
  }
  const Duration max_age = interval_ * kLoadMaxAgeHeartbeats;
  for (const auto& v : replicas.list()) {
    h.replicas.push_back(ReplicaReport{v.id, v.generation, v.state, v.reason, v.port, v.restarts,
                                       load_summary(v.load, now, max_age)});
  }
  h.events = pending_;
  in_flight_ = pending_.size();
  h.applied_generation = applied_;
  h.accepts_unchanged = last_set_.has_value();  // it has a set to keep
  return h;
}

void ControllerLink::acknowledged() {
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(
                                                          std::min(in_flight_, pending_.size())));
  in_flight_ = 0;
}

Result<std::vector<std::string>> ControllerLink::apply(const NodeAssignment& reply,
                                                       ReplicaSet& replicas,
                                                       const std::vector<GpuInfo>& gpus,
                                                       TimePoint now) {
  if (reply.generation < applied_) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "reply generation " + std::to_string(reply.generation) +
                          " is older than the applied " + std::to_string(applied_));
  }
  if (reply.unchanged) {
    // The set applied last still holds, now under this generation: applied again as it was, so
    // that an "unchanged" reply does exactly what repeating the set would.
    if (!last_set_) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "reply says \"unchanged\" but no set was applied yet");
    }
    NodeAssignment same = *last_set_;
    same.generation = reply.generation;
    same.heartbeat_interval = reply.heartbeat_interval;
    return apply(same, replicas, gpus, now);
  }
  last_set_ = reply;
  std::vector<std::string> problems;
  std::set<std::string> wanted;
  const std::vector<RunningReplica> running = replicas.list();
  for (const auto& a : reply.replicas) {
    wanted.insert(a.id);
    if (a.draining) {
      // Kept until its engine is idle, never started: one that is not running here is done.
      const bool here = std::any_of(running.begin(), running.end(),
                                    [&](const RunningReplica& v) { return v.id == a.id; });
      if (here) (void)replicas.drain(a.id, now, a.drain_timeout, cfg_.drain);
      continue;
    }
    DesiredReplica d;
    d.id = a.id;
    d.generation = a.generation;
    d.deployment.name = a.deployment;
    d.deployment.model = a.model;
    d.deployment.engine.type = a.engine;
    d.deployment.engine.args = a.args;
    d.deployment.engine.env = a.env;
    d.deployment.resources.gpus = static_cast<int>(a.gpus.size());
    d.deployment.performance = a.performance;
    if (a.max_batched_tokens)
      d.deployment.engine.max_batched_tokens = BatchedTokensSpec{.tokens = *a.max_batched_tokens};
    d.gpu_model = a.gpu_model;
    d.memory_fraction = a.memory_fraction;
    d.api_key = a.api_key;
    bool ok = true;
    for (const auto& u : a.gpus) {
      if (!find_device(gpus, u)) {  // a GPU here, or a MIG device of one
        problems.push_back("replica " + a.id + ": GPU " + u + " is not on this node");
        ok = false;
      }
    }
    if (!ok) continue;
    d.gpu_uuids = a.gpus;
    if (Status s = replicas.ensure(d, now); !s)
      problems.push_back("replica " + a.id + ": " + s.error().message);
  }
  for (const auto& v : replicas.list()) {
    if (!wanted.count(v.id) && v.state != ReplicaProcessState::kStopping &&
        v.state != ReplicaProcessState::kStopped) {
      (void)replicas.remove(v.id, now, cfg_.drain);
    }
  }
  applied_ = reply.generation;
  if (reply.heartbeat_interval > Duration(0)) interval_ = reply.heartbeat_interval;
  return problems;
}

}  // namespace gf
