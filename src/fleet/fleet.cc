#include "fleet/fleet.h"

#include "placement/defragmentation.h"
#include "placement/gpu_cost.h"
#include "pool/health_policy.h"

#include "fleet/rollout_strategy.h"
#include "perfmodel/iteration_budget.h"
#include "perfmodel/replica_capacity.h"

#include <fmt/format.h>
#include <algorithm>
#include <limits>

namespace gf {

namespace {

constexpr ReplicaState kAllStates[] = {ReplicaState::kPending,  ReplicaState::kPlaced,
                                       ReplicaState::kStarting, ReplicaState::kReady,
                                       ReplicaState::kDraining, ReplicaState::kStopped,
                                       ReplicaState::kFailed,   ReplicaState::kCrashLoop};

// Replicas that count toward a deployment's size: not on their way out.
bool active(const ReplicaRecord& r) {
  return r.state != ReplicaState::kDraining && r.state != ReplicaState::kStopped &&
         r.state != ReplicaState::kFailed;
}

// Replicas an agent should be running.
bool assigned(const ReplicaRecord& r) {
  return active(r) && r.state != ReplicaState::kPending;
}

uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string base36(int64_t v) {
  static const char* digits = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string out;
  do {
    out.insert(out.begin(), digits[v % 36]);
    v /= 36;
  } while (v > 0);
  return out;
}

}  // namespace

const char* to_string(ReplicaState s) {
  switch (s) {
    case ReplicaState::kPending:
      return "Pending";
    case ReplicaState::kPlaced:
      return "Placed";
    case ReplicaState::kStarting:
      return "Starting";
    case ReplicaState::kReady:
      return "Ready";
    case ReplicaState::kDraining:
      return "Draining";
    case ReplicaState::kStopped:
      return "Stopped";
    case ReplicaState::kFailed:
      return "Failed";
    case ReplicaState::kCrashLoop:
      return "CrashLoop";
  }
  return "?";
}

std::optional<ReplicaState> parse_replica_state(std::string_view s) {
  for (ReplicaState x : kAllStates) {
    if (s == to_string(x)) return x;
  }
  return std::nullopt;
}

const char* to_string(NodeState s) {
  switch (s) {
    case NodeState::kUnknown:
      return "Unknown";
    case NodeState::kReady:
      return "Ready";
    case NodeState::kLost:
      return "Lost";
  }
  return "?";
}

std::string deployment_revision(const DeploymentSpec& d) {
  // Everything that changes what a replica runs or where it may run; not the replica count, the
  // routing policy or the tenants (those apply to running replicas without a restart).
  std::string key = d.model + '\n' + to_string(d.engine.type) + '\n';
  for (const auto& a : d.engine.args)
    key.append(a).push_back('\x1f');
  for (const auto& [k, v] : d.engine.env)
    key.append(k).append("=").append(v).push_back('\x1f');
  if (const auto& b = d.engine.max_batched_tokens) {
    key += b->automatic ? std::string("budget=auto") : fmt::format("budget={}", b->tokens.value);
    // `auto` follows the SLO targets (perfmodel/iteration_budget.h): new targets, new engines.
    if (b->automatic) {
      const auto ms = [](const std::optional<Duration>& t) { return t ? to_ms(*t) : -1.0; };
      key +=
          fmt::format("|{}|{}|{}|{}", b->prompt.value, b->output.value, ms(b->ttft), ms(b->tpot));
      // The autoscaling's targets count only where the budget does not pin its own.
      if (d.autoscaling && !b->ttft) key += fmt::format("|{}", ms(d.autoscaling->slo_ttft));
      if (d.autoscaling && !b->tpot) key += fmt::format("|{}", ms(d.autoscaling->slo_tpot));
    }
  }
  const auto& r = d.resources;
  key += fmt::format("\n{}|{}|{}|{}|{}|{}", r.gpus, r.memory_per_gpu ? r.memory_per_gpu->value : -1,
                     r.compute ? r.compute->value : -1, r.allow_reserved,
                     static_cast<int>(r.topology), d.priority);
  for (const auto& m : r.gpu_models)
    key += m + ',';
  if (d.performance) {
    const auto& p = *d.performance;
    key += fmt::format("\n{}|{}|{}|{}|{}|{}", p.prefill_base_ms, p.prefill_per_token_ms,
                       p.prefill_per_token2_ms, p.decode_base_ms, p.decode_per_seq_ms,
                       p.decode_per_ctx_token_ms);
  }
  return fmt::format("{:010x}", fnv1a(key) & 0xffffffffffULL);
}

Result<Fleet> Fleet::create(const PlacementSpec& placement, FleetOptions options, TimePoint now) {
  auto sched = Scheduler::create(placement);
  if (!sched) return sched.error();
  Fleet f(std::move(*sched), options);
  f.started_ = now;
  return f;
}

int64_t Fleet::bump_generation() {
  changes_.generation = true;
  return ++generation_;
}

std::string Fleet::new_replica_id(const std::string& deployment) {
  // The generation is persisted and only grows, so ids never repeat across restarts.
  return deployment + "-" + base36(bump_generation());
}

void Fleet::event(TimePoint now, std::string kind, std::string subject, std::string from,
                  std::string to, std::string reason) {
  if (opts_.max_events == 0) return;
  if (events_.size() >= opts_.max_events) events_.pop_front();
  events_.push_back(FleetEvent{now, std::move(kind), std::move(subject), std::move(from),
                               std::move(to), std::move(reason), ++event_seq_});
}

void Fleet::collect_pool_events() {
  for (auto& e : pool_.take_events()) {
    event(e.time, to_string(e.kind), e.subject, e.from, e.to, e.reason);
  }
}

void Fleet::set_state(ReplicaRecord& r, ReplicaState to, std::string reason, TimePoint now) {
  if (r.state == to && r.reason == reason) return;
  const ReplicaState from = r.state;
  if (from != to) {
    event(now, "Replica", r.id, to_string(from), to_string(to), reason);
    r.since = now;
  }
  r.state = to;
  r.reason = std::move(reason);
  if (from != to) index_state(r, from);
  record_replica_change(r);
}

void Fleet::index_state(const ReplicaRecord& r, std::optional<ReplicaState> from) {
  if (from == ReplicaState::kPending) pending_.erase(r.id);
  if (r.state == ReplicaState::kPending) pending_.insert(r.id);
  if (r.state == ReplicaState::kStopped && r.node.empty()) unplaced_stopped_.insert(r.id);
}

// Every record change may change what the routing table holds (states, ports, revisions,
// rollout weights): the next rebuild_routing() looks. And its deployment's next reconcile.
void Fleet::record_replica_change(const ReplicaRecord& r) {
  changes_.replicas.insert(r.id);
  routing_dirty_ = true;
  to_reconcile_.insert(r.deployment);
}

void Fleet::record_deployment_change(const std::string& name) {
  changes_.deployments.insert(name);
  routing_dirty_ = true;
  to_reconcile_.insert(name);
}

FleetChanges Fleet::take_changes() {
  return std::exchange(changes_, FleetChanges{});
}

// ---- desired state ---------------------------------------------------------------------------

Status Fleet::apply(const DeploymentSpec& spec, const std::string& manifest, TimePoint now) {
  if (spec.name.empty())
    return make_error(ErrorCode::kInvalidArgument, "deployment needs metadata.name");
  std::string rev = deployment_revision(spec);
  auto it = deployments_.find(spec.name);
  if (it == deployments_.end()) {
    DeploymentRecord d;
    d.spec = spec;
    d.manifest = manifest;
    d.revision = rev;
    d.replicas = spec.replicas.min;
    deployments_.emplace(spec.name, std::move(d));
    event(now, "DeploymentCreated", spec.name, "", rev, "revision " + rev);
  } else {
    DeploymentRecord& d = it->second;
    if (!d.history.empty() && d.history.back().revision == rev) {
      d.history.pop_back();  // an undo: the revision we return to leaves the history
      d.history.push_back(RevisionRecord{d.revision, d.manifest, d.spec});
      event(now, "RolloutStarted", spec.name, d.revision, rev, "undo");
    } else if (rev != d.revision) {
      d.history.push_back(RevisionRecord{d.revision, d.manifest, d.spec});
      if (d.history.size() > opts_.max_history) d.history.erase(d.history.begin());
      event(now, "RolloutStarted", spec.name, d.revision, rev,
            std::string("strategy ") + to_string(spec.rollout.strategy));
    }
    if (rev != d.revision && rev == d.stable_revision) {
      // Back to the revision that served before this rollout (undo, or a canary rollback): its
      // replicas are still there, so traffic returns at once and the other revision retires.
      d.stable_revision.clear();
      d.canary_step = static_cast<int>(spec.rollout.steps.size());
      d.switched_at = now;
      d.traffic.clear();
      d.rollback_reason.clear();
    } else if (rev != d.revision) {
      // The revision that served until now is what a canary shares traffic with.
      if (d.stable_revision.empty()) d.stable_revision = d.revision;
      d.canary_step = 0;
      d.step_started = now;
      d.step_ready.reset();
      d.switched_at.reset();
      d.traffic.clear();
      d.rollback_reason.clear();
    }
    if (spec.resources.gpu_models != d.spec.resources.gpu_models) d.gpu_order.clear();
    d.spec = spec;
    d.manifest = manifest;
    d.revision = rev;
    d.replicas = std::clamp(d.replicas, spec.replicas.min, spec.replicas.max);
  }
  record_deployment_change(spec.name);
  reconcile(deployments_.at(spec.name), now);
  sweep(now);
  place_pending(now);
  hold_reserves(now);
  rebuild_routing(now);
  return {};
}

Status Fleet::remove_deployment(const std::string& name, TimePoint now) {
  auto it = deployments_.find(name);
  if (it == deployments_.end())
    return make_error(ErrorCode::kNotFound, "no deployment named \"" + name + "\"");
  for (const std::string& id : of_deployment(name)) {
    ReplicaRecord& r = replicas_.at(id);
    if (active(r)) drain(r, "deployment deleted", now);
  }
  deployments_.erase(it);
  at_rest_.erase(name);
  // Its idle reserve slots go now; slots in use go with their replicas.
  reserves_.remove(pool_, name, now);
  preemptions_.forget_deployment(name);
  record_deployment_change(name);
  event(now, "DeploymentDeleted", name, "", "", "");
  sweep(now);
  rebuild_routing(now);
  return {};
}

Status Fleet::scale(const std::string& name, int replicas, TimePoint now, std::string_view reason) {
  auto it = deployments_.find(name);
  if (it == deployments_.end())
    return make_error(ErrorCode::kNotFound, "no deployment named \"" + name + "\"");
  auto& d = it->second;
  if (replicas < d.spec.replicas.min || replicas > d.spec.replicas.max) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{} replicas is outside {}'s range {}..{} (replicas.min/max)",
                                  replicas, name, d.spec.replicas.min, d.spec.replicas.max));
  }
  if (d.replicas != replicas) {
    event(now, "Scaled", name, std::to_string(d.replicas), std::to_string(replicas),
          std::string(reason));
    d.replicas = replicas;
    record_deployment_change(name);
  }
  reconcile(d, now);
  sweep(now);
  place_pending(now);
  hold_reserves(now);
  rebuild_routing(now);
  return {};
}

void Fleet::set_gpu_order(const std::string& name, std::vector<std::string> order) {
  auto it = deployments_.find(name);
  if (it == deployments_.end()) return;
  const auto& allowed = it->second.spec.resources.gpu_models;
  // Never widen what the spec allows: an order naming another model is ignored.
  for (const auto& m : order) {
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), m) == allowed.end()) return;
  }
  it->second.gpu_order = std::move(order);
}

Result<std::string> Fleet::previous_manifest(const std::string& name) const {
  auto it = deployments_.find(name);
  if (it == deployments_.end())
    return make_error(ErrorCode::kNotFound, "no deployment named \"" + name + "\"");
  if (it->second.history.empty()) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "deployment \"" + name + "\" has no previous revision to go back to");
  }
  return it->second.history.back().manifest;
}

Status Fleet::set_node_admin(const std::string& node, AdminState to, TimePoint now) {
  auto it = nodes_.find(node);
  if (it == nodes_.end() || !it->second.pool_index)
    return make_error(ErrorCode::kNotFound, "no registered node named \"" + node + "\"");
  Status s = pool_.set_node_admin(*it->second.pool_index, to, "by operator", now);
  if (!s) return s;
  if (to == AdminState::kDraining) {
    for (const auto& [id, r] : on_node(node))
      if (active(*r)) drain(*r, "node " + node + " drained by operator", now);
  }
  collect_pool_events();
  tick(now);
  return {};
}

// ---- agents ----------------------------------------------------------------------------------

Status Fleet::register_inventory(NodeRecord& n, const NodeReport& hb, TimePoint now) {
  NodeSpec spec;
  spec.name = hb.node;
  spec.labels = hb.labels;
  spec.nvlink_groups = hb.nvlink_groups;
  std::vector<GpuReport> gpus = hb.gpus;
  std::sort(gpus.begin(), gpus.end(), [](auto& a, auto& b) { return a.index < b.index; });
  for (const auto& g : gpus) {
    GpuGroupSpec group;
    group.model = g.name;
    group.count = 1;
    group.memory = g.memory;
    group.uuids = {g.uuid};
    // Agents report no price: the cluster's price table has it (cost-efficient scaling).
    if (auto p = sched_.spec().gpu_prices.find(g.name); p != sched_.spec().gpu_prices.end())
      group.price_per_hour = p->second;
    spec.gpus.push_back(std::move(group));
  }
  auto idx = pool_.add_node(spec, now);
  if (!idx) return idx.error();
  n.pool_index = *idx;
  event(now, "NodeRegistered", hb.node, "", "Ready", fmt::format("{} GPUs", gpus.size()));
  recommit(n, now);
  return {};
}

// Replicas read back from the store hold GPUs on a node the pool did not know yet; now it does.
void Fleet::recommit(NodeRecord& n, TimePoint now) {
  for (auto& [id, r] : replicas_) {
    if (r.node != n.name || r.allocation.valid() || !active(r) || r.state == ReplicaState::kPending)
      continue;
    auto d = deployments_.find(r.deployment);
    std::vector<GpuIndex> gpus;
    bool all = true;
    for (const auto& u : r.gpus) {
      auto g = pool_.find_gpu(u);
      if (!g) all = false;
      if (g) gpus.push_back(*g);
    }
    Result<AllocationId> a = make_error(ErrorCode::kNotFound, "its GPUs are gone from the node");
    if (d != deployments_.end() && all)
      a = pool_.commit(request_for(d->second.spec, d->second.spec.owner), *n.pool_index, gpus, now);
    if (a) {
      r.allocation = *a;
    } else {
      set_state(r, ReplicaState::kFailed, "cannot hold its GPUs again: " + a.error().message, now);
    }
  }
}

Result<NodeAssignment> Fleet::heartbeat(const NodeReport& hb, TimePoint now) {
  auto [it, inserted] = nodes_.try_emplace(hb.node);
  NodeRecord& n = it->second;
  if (inserted) n.name = hb.node;
  // A message older than one already seen from the same agent changes nothing.
  if (n.agent_id == hb.agent_id && hb.seq <= n.seq && !inserted) {
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("stale heartbeat {} (already saw {})", hb.seq, n.seq));
  }
  if (n.agent_id != hb.agent_id && !n.agent_id.empty())
    event(now, "AgentRestarted", hb.node, n.agent_id, hb.agent_id, "new agent process");
  n.agent_id = hb.agent_id;
  n.seq = hb.seq;
  if (n.host != hb.host) {
    n.host = hb.host;
    routing_dirty_ = true;  // its replicas' addresses
  }
  n.agent_port = hb.port;
  n.last_seen = now;
  n.applied_generation = hb.applied_generation;
  if (!n.pool_index) {
    if (Status s = register_inventory(n, hb, now); !s) return s.error();
  } else if (n.state == NodeState::kLost) {
    pool_.mark_node_returned(*n.pool_index, now);
  }
  if (n.state != NodeState::kReady) {
    event(now, "Node", n.name, to_string(n.state), "Ready", "heartbeat");
    n.state = NodeState::kReady;
    routing_dirty_ = true;
  }

  apply_gpu_reports(hb, now);
  for (const auto& e : hb.events)
    event(now, "GpuHealth", e.gpu, to_string(e.from), to_string(e.to), e.reason);

  const bool load_moved = apply_replica_reports(hb, now);
  collect_pool_events();
  publish_after_heartbeat(load_moved, now);
  due(now);  // a replica that became Ready may let a rollout advance; new GPUs may fit Pending

  // Most heartbeats are answered "unchanged": decided on the records in place, and only a set
  // that is sent is filled in (models, arguments, environment ...).
  n.told_interval = pacer_.interval();
  if (may_answer_unchanged(n, hb, now)) {
    NodeAssignment reply;
    reply.generation = generation_;
    reply.heartbeat_interval = n.told_interval;
    reply.unchanged = true;
    return reply;
  }
  NodeAssignment reply = assignment_for(hb.node, now);
  remember_sent(n, reply);
  return reply;
}

// A heartbeat that changed nothing the node runs is answered "unchanged" when its agent can take
// that: at fleet scale most heartbeats are such, and repeating every node's whole set each second
// is most of the controller's work and bytes (#18). Never while a replica drains: its entry
// counts down, and leaves the set on a timeout rather than on a generation. Compared field by
// field with the set last sent, on the records themselves: no copy, no formatted key.
bool Fleet::may_answer_unchanged(const NodeRecord& n, const NodeReport& hb, TimePoint now) const {
  if (!hb.accepts_unchanged || n.sent_generation < 0 || hb.applied_generation < n.sent_generation)
    return false;
  size_t i = 0;
  bool same = true;
  for_each_assigned(hb.node, now, [&](const ReplicaRecord& r, bool draining, const auto&) {
    same = same && !draining && i < n.sent.size() && n.sent[i].generation == r.generation &&
           n.sent[i].id == r.id && n.sent[i].revision == r.revision;
    ++i;
  });
  return same && i == n.sent.size();
}

void Fleet::remember_sent(NodeRecord& n, const NodeAssignment& reply) {
  bool draining = false;
  n.sent.clear();
  for (const ReplicaAssignment& a : reply.replicas) {
    n.sent.push_back({a.id, a.generation, a.revision});
    draining = draining || a.draining;
  }
  n.sent_generation = draining ? -1 : reply.generation;
}

// After a heartbeat: a changed replica set is published at once unless a table was built less
// than routing_batch ago (then tick() does it, and next_deadline() says when), so that a
// thousand nodes reporting their replicas Ready cost a few rebuilds, not a thousand. Without a
// structural change only this node's loads can have moved: compared with what was published,
// without a rebuild.
void Fleet::publish_after_heartbeat(bool load_moved, TimePoint now) {
  if (routing_dirty_) {
    if (!last_rebuild_ || now >= *last_rebuild_ + routing_batch()) rebuild_routing(now);
    return;
  }
  if (!load_moved) return;
  const Duration every = opts_.load_publication.min_interval;
  if (!last_load_publish_ || now >= *last_load_publish_ + every) {
    rebuild_routing(now);
  } else if (!load_due_) {
    load_due_ = *last_load_publish_ + every;
  }
}

// Telemetry and health from the node's GPUs into the pool.
void Fleet::apply_gpu_reports(const NodeReport& hb, TimePoint now) {
  const std::optional<NodeIndex> node = nodes_.at(hb.node).pool_index;
  for (const auto& g : hb.gpus) {
    // By its local index on the node first: a string compare, not a hash of every UUID (#18).
    std::optional<GpuIndex> gi;
    if (node && g.index >= 0 && static_cast<size_t>(g.index) < pool_.node(*node).gpus.size()) {
      const GpuIndex at = pool_.node(*node).gpus[static_cast<size_t>(g.index)];
      if (pool_.gpu(at).uuid == g.uuid) gi = at;
    }
    if (!gi) gi = pool_.find_gpu(g.uuid);
    if (!gi) continue;
    GpuTelemetry t;
    t.utilization_pct = g.utilization_pct;
    t.temperature_c = g.temperature_c;
    t.power_w = g.power_w;
    t.memory_used = g.memory_used;
    pool_.update_telemetry(*gi, t);
    const Health h = g.health;
    if (pool_.gpu(*gi).health == h) continue;
    Health cur = pool_.gpu(*gi).health;
    // The agent's health policy already made the GPU earn its way back; the pool's rule that a
    // returning GPU passes through Probation is met by stepping through it here.
    if (!health_transition_allowed(cur, h) && health_transition_allowed(cur, Health::kProbation))
      (void)pool_.set_health(*gi, Health::kProbation, g.reason, now);
    (void)pool_.set_health(*gi, h, g.reason.empty() ? "reported by agent" : g.reason, now);
  }
}

// Replica states from the agent; replicas it no longer runs are gone. Runs on every heartbeat for
// every replica of the node: one lookup per replica, no allocation when nothing changed (#18).
bool Fleet::apply_replica_reports(const NodeReport& hb, TimePoint now) {
  const uint64_t mark = ++heartbeats_;
  size_t named = 0;  // replicas placed on this node that the report names, each counted once
  bool load_moved = false;
  // Looked up among the node's own replicas: a handful, not the whole fleet's.
  const std::map<std::string, ReplicaRecord*>& placed = on_node(hb.node);
  for (const auto& rep : hb.replicas) {
    auto r = placed.find(rep.id);
    if (r == placed.end()) continue;  // not ours: the agent stops it
    ReplicaRecord& rr = *r->second;
    named += rr.reported_in != mark;
    rr.reported_in = mark;
    // The latest reading replaces the last (assigned in place: its histogram keeps its buffer); a
    // heartbeat without one makes the load unknown.
    RouteReplica latest;  // the load as the routing table would carry it: what load_moved() reads
    if (rep.load) {
      rr.load = *rep.load;
      rr.load_as_of = now - rep.load->age;
      if (rep.load->age <= load_max_age()) {
        latest.kv_cache_usage = rep.load->kv_cache_usage;
        latest.queue_length = rep.load->waiting;
      }
    } else {
      rr.load.reset();
    }
    if (!load_moved) {
      auto p = published_.find(rr.id);
      load_moved =
          p != published_.end() && gf::load_moved(*p->second.route, latest, opts_.load_publication);
    }
    if (rr.port != rep.port || rr.restarts != rep.restarts) {
      rr.port = rep.port;
      rr.restarts = rep.restarts;
      record_replica_change(rr);
    }
    if (!active(rr)) continue;  // Draining: wait for it to disappear from the report
    switch (rep.state) {
      case ReplicaProcessState::kReady:
        set_state(rr, ReplicaState::kReady, "answering its readiness probe", now);
        break;
      case ReplicaProcessState::kCrashLoop:
        set_state(rr, ReplicaState::kCrashLoop, rep.reason, now);
        break;
      case ReplicaProcessState::kStarting:
      case ReplicaProcessState::kWaiting:
        set_state(rr, ReplicaState::kStarting, rep.reason, now);
        break;
      case ReplicaProcessState::kStopping:
      case ReplicaProcessState::kStopped:
        break;  // the agent is stopping it on its own: the next report drops it
    }
  }
  // Named them all (the common case): none has gone.
  if (named == placed.size()) return load_moved;
  // A replica the agent no longer runs, after it applied a generation without it, has stopped.
  std::vector<std::string> gone;
  for (const auto& [id, record] : placed) {
    ReplicaRecord& r = *record;
    if (r.reported_in == mark) continue;
    if (r.state == ReplicaState::kDraining || r.state == ReplicaState::kStopped) {
      gone.push_back(id);
    } else if ((r.state == ReplicaState::kStarting || r.state == ReplicaState::kReady) &&
               hb.applied_generation >= r.generation) {
      set_state(r, ReplicaState::kFailed, "the agent no longer runs it", now);
      gone.push_back(id);
    }
  }
  for (const auto& id : gone)
    forget(id, now);
  return load_moved;
}

// Calls f(record, draining, deployment) for every replica the node must run, under the current
// generation, and the Draining ones still finishing their requests, in id order: the one rule
// for what a node's set holds, for the set sent and for the "unchanged" answer alike.
template <typename F>
void Fleet::for_each_assigned(const std::string& node, TimePoint now, F&& f) const {
  for (const auto& [id, record] : on_node(node)) {
    const ReplicaRecord& r = *record;
    // A Draining replica stays in the set until the agent reports it stopped or the drain
    // timeout passes; then it leaves, and the agent stops it at once (also an agent too old to
    // know the flag, which meanwhile just kept it running).
    const bool draining = r.state == ReplicaState::kDraining && now < r.since + opts_.drain_timeout;
    if (!assigned(r) && !draining) continue;
    auto d = deployments_.find(r.deployment);
    if (d == deployments_.end() && !draining) continue;
    f(r, draining, d);
  }
}

std::optional<Tokens> Fleet::iteration_budget(const DeploymentRecord& d,
                                              const ReplicaRecord& r) const {
  if (!r.iteration_budget) r.iteration_budget = engine_iteration_budget(d.spec, r.gpu_model);
  return *r.iteration_budget;
}

NodeAssignment Fleet::assignment_for(const std::string& node, TimePoint now) const {
  NodeAssignment reply;
  reply.generation = generation_;
  reply.heartbeat_interval = pacer_.interval();
  for_each_assigned(node, now, [&](const ReplicaRecord& r, bool draining, auto d) {
    ReplicaAssignment a;
    a.id = r.id;
    a.generation = r.generation;
    a.revision = r.revision;
    if (draining) {
      a.draining = true;
      a.drain_timeout = r.since + opts_.drain_timeout - now;
    }
    a.deployment = r.deployment;
    a.gpus = r.gpus;
    a.gpu_model = r.gpu_model;
    a.memory_fraction = r.memory_fraction;
    if (d != deployments_.end()) {
      const DeploymentSpec& s = d->second.spec;
      a.model = s.model;
      a.engine = s.engine.type;
      a.args = s.engine.args;
      a.env = s.engine.env;
      a.performance = s.performance;
      a.max_batched_tokens = iteration_budget(d->second, r);
    }
    // (Its deployment deleted: the agent only needs to know which replica drains.)
    reply.replicas.push_back(std::move(a));
  });
  return reply;
}

// ---- reconcile -------------------------------------------------------------------------------

void Fleet::drain(ReplicaRecord& r, const std::string& reason, TimePoint now) {
  if (r.state == ReplicaState::kPending) {
    // Never placed: nothing to stop. sweep() drops it (callers may be iterating the map).
    set_state(r, ReplicaState::kStopped, reason, now);
    return;
  }
  set_state(r, ReplicaState::kDraining, reason, now);
  bump_generation();  // the node's desired set shrank
}

void Fleet::sweep(TimePoint now) {
  for (const std::string& id : std::exchange(unplaced_stopped_, {})) {
    auto it = replicas_.find(id);
    if (it != replicas_.end() && it->second.state == ReplicaState::kStopped &&
        it->second.node.empty())
      forget(id, now);
  }
}

// NOLINTNEXTLINE(performance-unnecessary-value-param): a copy on purpose, see fleet.h.
void Fleet::forget(std::string id, TimePoint now) {
  auto it = replicas_.find(id);
  if (it == replicas_.end()) return;
  if (it->second.allocation.valid())
    (void)pool_.release(it->second.allocation, now, "replica " + id + " gone");
  if (!it->second.node.empty()) {
    auto n = by_node_.find(it->second.node);
    if (n != by_node_.end()) {
      n->second.erase(id);
      if (n->second.empty()) by_node_.erase(n);
    }
  }
  if (auto d = by_deployment_.find(it->second.deployment); d != by_deployment_.end()) {
    d->second.erase(id);
    if (d->second.empty()) by_deployment_.erase(d);
  }
  pending_.erase(id);
  unplaced_stopped_.erase(id);
  relocating_.erase(id);
  defrag_tried_.erase(id);
  record_replica_change(it->second);
  published_.erase(id);  // its record goes; the table is rebuilt without it (routing_dirty_)
  replicas_.erase(it);
}

void Fleet::node_lost(NodeRecord& n, TimePoint now) {
  event(now, "Node", n.name, to_string(n.state), "Lost",
        fmt::format(
            "no heartbeat for {} ms",
            std::chrono::duration_cast<std::chrono::milliseconds>(now - n.last_seen).count()));
  n.state = NodeState::kLost;
  routing_dirty_ = true;
  if (n.pool_index) (void)pool_.mark_node_lost(*n.pool_index, "node " + n.name + " lost", now);
  std::vector<std::string> ids;
  for (const auto& [id, record] : on_node(n.name)) {
    ReplicaRecord& r = *record;
    if (r.state != ReplicaState::kPending) {
      set_state(r, ReplicaState::kFailed, "node " + n.name + " lost", now);
      ids.push_back(id);
    }
  }
  // Its GPUs are Lost, so nothing lands there again; when the node returns, its agent is told
  // to stop these (they are no longer in its desired set): generation fencing.
  for (const auto& id : ids)
    forget(id, now);
}

void Fleet::advance_rollout(DeploymentRecord& d, int ready_current, TimePoint now) {
  if (d.stable_revision.empty()) return;
  const auto& ro = d.spec.rollout;
  if (ro.strategy == RolloutStrategy::kCanary && d.rollback_reason.empty()) {
    d.rollback_reason = canary_verdict(d);
    if (!d.rollback_reason.empty()) return;  // tick() rolls back
  }
  if (ro.strategy == RolloutStrategy::kCanary &&
      d.canary_step < static_cast<int>(ro.steps.size())) {
    // A step ends once its replicas are ready and its pause has passed since they were.
    if (ready_current < wanted_current(d)) {
      d.step_ready.reset();
    } else if (!d.step_ready) {
      d.step_ready = now;
    }
    if (d.step_ready && now - *d.step_ready >= ro.steps[static_cast<size_t>(d.canary_step)].pause) {
      ++d.canary_step;
      d.step_started = now;
      d.step_ready.reset();
      record_deployment_change(d.spec.name);
      int w = canary_step_weight(d);
      event(
          now, "CanaryStep", d.spec.name, d.stable_revision, d.revision,
          fmt::format("step {} of {}: {}% of traffic", d.canary_step + 1, ro.steps.size() + 1, w));
    }
  }
  if (ro.strategy == RolloutStrategy::kBlueGreen && !d.switched_at && ready_current >= d.replicas) {
    d.switched_at = now;
    record_deployment_change(d.spec.name);
    event(now, "TrafficSwitched", d.spec.name, d.stable_revision, d.revision,
          "every replica of the new revision is ready; the old one stays for undo");
  }
}

std::string Fleet::canary_verdict(const DeploymentRecord& d) const {
  auto c = d.traffic.find(d.revision);
  auto s = d.traffic.find(d.stable_revision);
  if (c == d.traffic.end() || s == d.traffic.end()) return "";
  return gf::canary_verdict(d.revision, c->second, s->second, opts_.canary);
}

void Fleet::record_traffic(const TrafficReport& report, TimePoint now) {
  for (const auto& t : report.revisions) {
    for (auto& [name, d] : deployments_) {
      if (d.spec.model != t.model || d.stable_revision.empty()) continue;
      accumulate(d.traffic[t.revision], t);
      due(now);  // canary analysis runs on the next tick
    }
  }
}

void Fleet::evacuate(TimePoint now) {
  if (pool_.faulty_or_lost() == 0) {
    moving_.clear();  // every GPU serves again: nothing moves
    return;
  }
  std::vector<std::string> stop;
  std::set<std::string> moving;
  for (auto& [id, r] : replicas_) {
    if (!assigned(r)) continue;
    const Gpu* bad = nullptr;
    for (const auto& uuid : r.gpus) {
      auto gi = pool_.find_gpu(uuid);
      if (!gi) continue;
      const Gpu& g = pool_.gpu(*gi);
      if (g.health == Health::kFaulty || g.health == Health::kLost) {
        bad = &g;
        if (!fault_spares_engine(g.health, g.state_reason)) break;
      }
    }
    if (bad == nullptr) continue;
    const std::string why =
        fmt::format("GPU {} {}: {}", bad->uuid, to_string(bad->health), bad->state_reason);
    // Only a serving engine is worth keeping while its replacement starts; one still starting on
    // a broken GPU serves nobody.
    if (r.state == ReplicaState::kReady && fault_spares_engine(bad->health, bad->state_reason)) {
      moving.insert(id);
      if (moving_.count(id) == 0)
        event(now, "Replica", id, "Ready", "Moving",
              why + "; serving until a replacement is Ready");
      continue;
    }
    set_state(r, ReplicaState::kFailed, why, now);
    stop.push_back(id);
  }
  moving_ = std::move(moving);
  // Out of its agent's desired set: the agent stops the engine at once (no drain: it cannot
  // finish anything on that GPU). reconcile() places the replacement.
  for (const auto& id : stop)
    forget(id, now);
  if (!stop.empty()) bump_generation();
}

void Fleet::reconcile(DeploymentRecord& d, TimePoint now) {
  to_reconcile_.erase(d.spec.name);
  at_rest_.erase(d.spec.name);
  std::vector<ReplicaRecord*> current, old, moving;
  for (const std::string& id : of_deployment(d.spec.name)) {
    ReplicaRecord& r = replicas_.at(id);
    if (!active(r)) continue;
    if ((!moving_.empty() && moving_.count(id) != 0) ||
        (!relocating_.empty() && relocating_.count(id) != 0)) {
      moving.push_back(&r);  // not counted: it is being replaced
      continue;
    }
    (r.revision == d.revision ? current : old).push_back(&r);
  }
  if (old.empty() && !d.stable_revision.empty()) {
    // The rollout is over (or was undone onto replicas still running): back to steady state.
    d.stable_revision.clear();
    d.canary_step = 0;
    d.switched_at.reset();
    record_deployment_change(d.spec.name);
  }
  const auto strategy = d.spec.rollout.strategy;
  const int target = d.replicas;
  const int wanted = wanted_current(d);
  const int surge = std::max(1, d.spec.rollout.max_surge);
  const int total = static_cast<int>(current.size() + old.size());
  // Create: rolling keeps the total within target + surge; blue-green brings the whole new
  // revision up beside the old; a canary step brings up its share.
  int can_create = wanted - static_cast<int>(current.size());
  if (strategy == RolloutStrategy::kRolling)
    can_create = std::min(can_create, target + (old.empty() ? 0 : surge) - total);
  for (int i = 0; i < can_create; ++i) {
    ReplicaRecord r;
    r.id = new_replica_id(d.spec.name);
    r.deployment = d.spec.name;
    r.revision = d.revision;
    r.state = ReplicaState::kPending;
    r.reason = "waiting for placement";
    r.since = now;
    event(now, "Replica", r.id, "", "Pending", "revision " + d.revision);
    record_replica_change(r);
    by_deployment_[r.deployment].insert(r.id);
    index_state(r, std::nullopt);
    replicas_.emplace(r.id, std::move(r));
  }
  // Scale down the new revision: the least advanced replicas go first (never a Ready one while
  // one still starting could go instead), then the least cost-efficient, then the most
  // fragmenting, then the least loaded by its engine's own account (the shortest drain; unknown
  // load counts as busiest).
  if (static_cast<int>(current.size()) > wanted) {
    // A GPU model's capacity for this deployment: the cluster's hints when it gives any, else the
    // perf model's speed next to the deployment's fastest model (the measure the autoscaler grows
    // by, gpu_choice.h), so a shrink does not drain what a growth would pick first.
    std::map<std::string, double> capacity = sched_.spec().capacity_hints;
    if (capacity.empty()) {
      std::vector<std::string> models;
      for (const ReplicaRecord* r : current)  // a Pending replica has no GPU model yet
        if (!r->gpu_model.empty() &&
            std::find(models.begin(), models.end(), r->gpu_model) == models.end())
          models.push_back(r->gpu_model);
      capacity = relative_speeds(d.spec, models);
    }
    auto cost = [&](const ReplicaRecord* r) {
      double c = 0;
      for (const auto& uuid : r->gpus) {
        if (auto g = pool_.find_gpu(uuid)) c += cost_per_capacity(pool_, *g, capacity);
      }
      return c;
    };
    auto busy = [&](const ReplicaRecord* r) {
      const ReplicaLoad* l = fresh_load(*r, now);
      if (l == nullptr || !l->running) return std::numeric_limits<int>::max();
      return *l->running + l->waiting.value_or(0);
    };
    // How fragmenting a replica is: the idle GPUs beside it on its node, which its removal would
    // join into a bigger free block. A lone replica on an otherwise idle node goes first, so that
    // node frees whole for a tensor-parallel replica.
    auto idle_beside = [this](const ReplicaRecord* r) {
      if (r->gpus.empty()) return 0;
      auto g = pool_.find_gpu(r->gpus.front());
      if (!g) return 0;
      int idle = 0;
      for (GpuIndex gi : pool_.node(pool_.gpu(*g).node).gpus)
        idle += pool_.gpu(gi).empty();
      return idle;
    };
    std::stable_sort(current.begin(), current.end(),
                     [&](const ReplicaRecord* a, const ReplicaRecord* b) {
                       const bool ra = a->state == ReplicaState::kReady;
                       const bool rb = b->state == ReplicaState::kReady;
                       if (ra != rb) return !ra;
                       const double ca = cost(a), cb = cost(b);
                       if (ca != cb) return ca > cb;
                       const int fa = idle_beside(a), fb = idle_beside(b);
                       if (fa != fb) return fa > fb;
                       return busy(a) < busy(b);
                     });
    for (size_t i = 0; i < current.size() - static_cast<size_t>(wanted); ++i)
      drain(*current[i], "scaled down", now);
  }
  int ready_new = 0;
  for (auto* r : current)
    ready_new += r->state == ReplicaState::kReady;
  // Make-before-break: a replica on a Faulty GPU drains once a replacement is Ready (one per
  // Ready replica beyond what is wanted), or at once when it is no longer wanted at all.
  const int ready_total = ready_new + static_cast<int>(moving.size());
  int release = std::min<int>(static_cast<int>(moving.size()), ready_total - wanted);
  for (auto* r : moving) {
    if (release-- <= 0) break;
    const bool defragmenting = relocating_.erase(r->id) != 0 && moving_.count(r->id) == 0;
    moving_.erase(r->id);
    drain(*r,
          defragmenting ? "moved to make room (defragmentation): a replacement is Ready"
                        : "moved off a Faulty GPU: a replacement is Ready",
          now);
  }
  advance_rollout(d, ready_new, now);
  if (old.empty()) {
    // One revision, no rollout, nothing moving: until a replica or the spec changes, the next
    // pass would decide what this one did (tick() skips it meanwhile).
    if (d.stable_revision.empty() && moving.empty()) at_rest_.insert(d.spec.name);
    return;
  }

  // Retire older revisions.
  if (strategy == RolloutStrategy::kBlueGreen) {
    // Old replicas keep serving until the switch, then stay dark for the retention time.
    if (d.switched_at && now - *d.switched_at >= opts_.blue_green_retention) {
      for (auto* r : old)
        drain(*r, "blue-green retention over; revision " + d.revision + " serves", now);
    }
    return;
  }
  if (strategy == RolloutStrategy::kCanary &&
      d.canary_step < static_cast<int>(d.spec.rollout.steps.size()))
    return;  // the stable revision serves the rest of the traffic until the last step
  // Rolling (and a canary past its last step): not-ready ones at once, ready ones only while
  // enough ready replicas stay (max unavailable); the new revision's replicas take their place.
  int ready_old = 0;
  for (auto* r : old)
    ready_old += r->state == ReplicaState::kReady;
  const int floor = std::max(0, target - std::max(0, d.spec.rollout.max_unavailable));
  for (auto* r : old) {
    if (r->state != ReplicaState::kReady) {
      drain(*r, "replaced by revision " + d.revision, now);
    } else if (ready_new + ready_old - 1 >= floor || ready_new >= target) {
      drain(*r, "replaced by revision " + d.revision, now);
      --ready_old;
    }
  }
}

// Highest priority first: GPUs that preemption frees go to the replica they were freed for, and
// a warm reserve's slot goes to its own deployment before anyone else looks.
std::vector<ReplicaRecord*> Fleet::pending_by_priority() {
  std::vector<std::pair<int, ReplicaRecord*>> order;
  for (const std::string& id : pending_) {
    ReplicaRecord& r = replicas_.at(id);
    auto d = deployments_.find(r.deployment);
    if (d != deployments_.end()) order.emplace_back(-d->second.spec.priority, &r);
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<ReplicaRecord*> out;
  for (const auto& [p, r] : order)
    out.push_back(r);
  return out;
}

// The scheduler's choice on `view` (the pool, or the pool with GPUs promised to preemption plans
// held), committed to the pool: a slot of the deployment's warm reserve, or free GPUs. What is
// free in the view is free in the pool, so the commit holds.
Result<AllocationId> Fleet::allocate(const AllocationRequest& req, const Pool& view, Decision& dec,
                                     TimePoint now) {
  dec = sched_.place(view, req, PlaceOptions{true, false});
  if (dec.slot) return pool_.bind_slot(*dec.slot, req, now);
  if (dec.placement) return pool_.commit(req, dec.placement->node, dec.placement->gpus(pool_), now);
  return make_error(dec.code, dec.reason);
}

void Fleet::place_pending(TimePoint now) {
  const std::vector<std::string> carried_out = preemptions_.settle(
      [this](const std::string& id) {
        auto r = replicas_.find(id);
        return r != replicas_.end() && r->second.state == ReplicaState::kPending;
      },
      [this, now](const PreemptionVictim& v) {
        auto r = replicas_.find(v.replica);
        if (r != replicas_.end() && r->second.allocation == v.allocation) return true;
        // Gone. The reserve slot it ran in, idle now, goes too: its GPUs are the preemptor's.
        const Allocation* slot = v.slot.valid() ? pool_.allocation(v.slot) : nullptr;
        if (slot != nullptr && slot->is_slot() && !slot->bound_replica.valid()) {
          event(now, "Preempted", to_string(v.slot), slot->request.deployment, "",
                fmt::format("the warm-reserve slot {} ran in, with it", v.replica));
          (void)pool_.release(v.slot, now, "preempted with " + v.replica);
        }
        return false;
      });
  std::optional<Pool> planned;   // the pool once plans in flight are carried out, made on need
  std::optional<Pool> promised;  // the pool with the plans' free GPUs held, made on need
  auto view = [&](const std::string& id) -> const Pool& {
    if (preemptions_.empty() || preemptions_.find(id) != nullptr) return pool_;
    if (!promised) promised = preemptions_.promised(pool_, now);
    return *promised;
  };
  // Replicas whose victims just left go first: what those freed was freed for them.
  std::vector<ReplicaRecord*> order;
  for (const std::string& id : carried_out)
    order.push_back(&replicas_.at(id));
  for (ReplicaRecord* r : pending_by_priority()) {
    if (std::find(carried_out.begin(), carried_out.end(), r->id) == carried_out.end())
      order.push_back(r);
  }
  for (ReplicaRecord* r : order) {
    const DeploymentRecord& d = deployments_.at(r->deployment);
    const DeploymentSpec& spec = d.spec;
    AllocationRequest req = request_for(spec, spec.owner);
    if (!d.gpu_order.empty()) req.gpu_models = d.gpu_order;  // the autoscaler's value order
    Decision dec;
    Result<AllocationId> a = allocate(req, view(r->id), dec, now);
    std::string why = a ? "" : a.error().message;
    if (!a && !dec.placed() && dec.code == ErrorCode::kUnschedulable) {
      bool planned_any = false;
      if (const PreemptionInFlight* p = preemptions_.find(r->id)) {
        // One plan at a time: its victims drain (or move) first; nobody else is touched meanwhile.
        std::vector<std::string> ids;
        for (const auto& v : p->victims)
          ids.push_back(v.replica);
        why = p->moves ? fmt::format("waiting for {} replica(s) to move off {}: {}", ids.size(),
                                     pool_.node(p->where.node).name, fmt::join(ids, ", "))
                       : fmt::format("waiting for {} preempted replica(s) to drain: {}", ids.size(),
                                     fmt::join(ids, ", "));
      } else if (auto waiting = preempt_for(*r, spec, req, why, planned, planned_any, now)) {
        if (!planned_any) {
          // Nobody to preempt: perhaps the GPUs are free, only scattered.
          if (auto moving = defragment_for(*r, spec, req, view(r->id), now))
            waiting = std::move(moving);
        }
        why = std::move(*waiting);
        promised.reset();  // a new plan promises more GPUs
      } else {
        promised.reset();
        a = allocate(req, view(r->id), dec, now);  // the plan freed idle slots: it fits now
        why = a ? "" : a.error().message;
      }
    }
    if (a) {
      on_placed(*r, req, *a, now);
      planned.reset();
      promised.reset();
      continue;
    }
    std::string note = preemptions_.note(r->deployment);
    set_state(*r, ReplicaState::kPending, note.empty() ? why : note + "; " + why, now);
  }
}

// When the replica fits nowhere, the scheduler's plan: the fewest strictly lower-priority replicas
// whose GPUs would make it fit. Never a replica of its own deployment (a rollout that raised the
// priority must not preempt its own old revision) nor of a deployment whose priority is not
// strictly lower now. Drains the victims and returns why the replica waits; nullopt when the plan
// only took idle reserve slots, so that the replica can be placed at once.
std::optional<std::string> Fleet::preempt_for(const ReplicaRecord& r, const DeploymentSpec& spec,
                                              const AllocationRequest& req, const std::string& why,
                                              std::optional<Pool>& planned, bool& planned_any,
                                              TimePoint now) {
  if (!preemptions_.empty() && !planned) planned = preemptions_.after_plans(pool_, now);
  const std::map<AllocationId, ReplicaRecord*> holders = replicas_by_allocation();
  // The deployment a victim belongs to must still rank strictly lower, and not be this one.
  auto spares = [&](const std::string& deployment) {
    auto vd = deployments_.find(deployment);
    return deployment == spec.name ||
           (vd != deployments_.end() && vd->second.spec.priority >= spec.priority);
  };
  PlaceOptions options{false, true};
  options.may_preempt = [&](const Allocation& a) {
    if (a.is_slot() && !a.bound_replica.valid()) return !spares(a.request.deployment);
    // A slot in use goes with the replica in it. No holder: a plan's what-if, not a replica yet.
    auto h = holders.find(a.is_slot() ? a.bound_replica : a.id);
    return h != holders.end() && !spares(h->second->deployment);
  };
  Decision dec = sched_.place(planned ? *planned : pool_, req, options);
  if (dec.placed()) {
    planned_any = true;  // others' plans free enough: nothing more to preempt or move
    return "waiting for GPUs that preempted replicas are freeing; " + why;
  }
  if (!dec.preemption) return why;
  planned_any = true;
  std::vector<AllocationId> slots;
  std::vector<std::pair<ReplicaRecord*, AllocationId>> victims;  // and the slot each runs in
  for (AllocationId a : dec.preemption->victims) {
    const Allocation* alloc = pool_.allocation(a);
    if (alloc != nullptr && alloc->is_slot() && !alloc->bound_replica.valid()) {
      slots.push_back(a);
    } else if (alloc != nullptr && alloc->is_slot()) {
      victims.emplace_back(holders.at(alloc->bound_replica), a);
    } else {
      victims.emplace_back(holders.at(a), AllocationId{});  // may_preempt took only these
    }
  }
  const std::string by = fmt::format("preempted by {} (priority {})", spec.name, spec.priority);
  // Idle slots go only when nothing else must: released while replicas still drain, the reserve
  // would hold their GPUs again before the replica could use them. The plan made once the victims
  // are gone takes them then.
  if (!victims.empty()) slots.clear();
  for (AllocationId a : slots) {
    event(now, "Preempted", to_string(a), pool_.allocation(a)->request.deployment, spec.name,
          fmt::format("{}: an idle warm-reserve slot, for replica {}", by, r.id));
    (void)pool_.release(a, now, by);
  }
  planned.reset();
  PreemptionInFlight plan{req, dec.preemption->placement, {}};
  std::map<std::string, int> per_deployment;
  std::vector<std::string> ids;
  for (auto [v, slot] : victims) {
    plan.victims.push_back(PreemptionVictim{v->id, v->allocation, slot});
    ids.push_back(v->id);
    if (v->state == ReplicaState::kDraining) continue;  // already on its way out
    event(now, "Preempted", v->id, v->deployment, spec.name,
          fmt::format("{}: its replica {} fits on no free GPU ({}){}", by, r.id, why,
                      slot.valid() ? "; its warm-reserve slot goes with it" : ""));
    drain(*v, by, now);
    ++per_deployment[v->deployment];
  }
  for (const auto& [dep, n] : per_deployment)
    preemptions_.note_victims(dep, n, by);
  if (plan.victims.empty()) return std::nullopt;
  preemptions_.start(r.id, std::move(plan));  // (place_pending's views are made again)
  return fmt::format("preempting {} lower-priority replica(s): {}; placed once they drain",
                     ids.size(), fmt::join(ids, ", "));
}

std::map<AllocationId, ReplicaRecord*> Fleet::replicas_by_allocation() {
  std::map<AllocationId, ReplicaRecord*> out;
  for (auto& [id, x] : replicas_) {
    if (x.allocation.valid()) out[x.allocation] = &x;
  }
  return out;
}

std::optional<std::string> Fleet::defragment_for(const ReplicaRecord& r, const DeploymentSpec& spec,
                                                 const AllocationRequest& req, const Pool& view,
                                                 TimePoint now) {
  while (!defrag_moves_.empty() && now - defrag_moves_.front() >= std::chrono::minutes(1))
    defrag_moves_.pop_front();
  const int budget = opts_.defrag_moves_per_minute - static_cast<int>(defrag_moves_.size());
  if (budget <= 0) return std::nullopt;
  if (auto t = defrag_tried_.find(r.id);
      t != defrag_tried_.end() && now - t->second < opts_.defrag_retry)
    return std::nullopt;
  // One plan per tick at most: a plan reads every allocation and copies the pool per node it
  // tries, and a thousand pending replicas must not each pay that in one pass.
  if (defrag_planned_at_ == now) return std::nullopt;
  defrag_planned_at_ = now;
  defrag_tried_[r.id] = now;
  const std::map<AllocationId, ReplicaRecord*> holders = replicas_by_allocation();
  DefragOptions options;
  options.max_moves = std::min(budget, 4);
  // Only a Ready replica of a deployment at rest moves (never one in a rollout, a drain or a
  // move already), and never one of a higher priority than the replica it makes room for.
  options.may_move = [&](const Allocation& a) {
    auto h = holders.find(a.id);
    if (h == holders.end()) return false;
    const ReplicaRecord& x = *h->second;
    if (x.state != ReplicaState::kReady || moving_.contains(x.id) || relocating_.contains(x.id))
      return false;
    auto d = deployments_.find(x.deployment);
    return d != deployments_.end() && d->second.stable_revision.empty() &&
           x.revision == d->second.revision && d->second.spec.priority <= spec.priority;
  };
  auto plan = plan_defragmentation(sched_, view, req, options, now);
  if (!plan) return std::nullopt;
  defrag_tried_.erase(r.id);
  const std::string where = pool_.node(plan->placement.node).name;
  const std::string why = fmt::format(
      "to make room for {} ({} GPUs on one node; {} free across the fleet, at most {} on one "
      "node)",
      r.id, req.gpus, plan->free_gpus, plan->most_free_on_a_node);
  PreemptionInFlight flight{req, plan->placement, {}, true};
  std::vector<std::string> ids;
  for (const DefragMove& m : plan->moves) {
    const ReplicaRecord& x = *holders.at(m.from);
    flight.victims.push_back(PreemptionVictim{x.id, x.allocation, AllocationId{}});
    ids.push_back(x.id);
    relocating_.insert(x.id);
    defrag_moves_.push_back(now);
    to_reconcile_.insert(x.deployment);  // its replacement is made there
    event(now, "Replica", x.id, "Ready", "Moving",
          fmt::format("moving off {} {}; serving until a replacement is Ready", where, why));
  }
  event(now, "Defragmenting", r.id, "", where,
        fmt::format("moving {} replica(s) off {}: {}", ids.size(), where, fmt::join(ids, ", ")));
  preemptions_.start(r.id, std::move(flight));
  return fmt::format("moving {} replica(s) off {} to make room: {}; placed once they have moved",
                     ids.size(), where, fmt::join(ids, ", "));
}

void Fleet::on_placed(ReplicaRecord& r, const AllocationRequest& req, AllocationId a,
                      TimePoint now) {
  defrag_tried_.erase(r.id);
  const Allocation* alloc = pool_.allocation(a);
  const std::vector<GpuIndex>& gpus = alloc->gpus;
  r.allocation = a;
  r.node = pool_.node(alloc->node).name;
  by_node_[r.node][r.id] = &r;
  r.gpus.clear();
  for (GpuIndex g : gpus)
    r.gpus.push_back(pool_.gpu(g).uuid);
  r.gpu_model = pool_.model_name(pool_.gpu(gpus.front()).model);
  r.iteration_budget.reset();  // resolved again for this GPU model
  MiB total = pool_.gpu(gpus.front()).memory_total;
  r.memory_fraction =
      req.fractional() && total.value > 0
          ? static_cast<double>(alloc->memory_per_gpu.value) / static_cast<double>(total.value)
          : 0.9;
  r.generation = bump_generation();
  preemptions_.placed(r.deployment);
  set_state(r, ReplicaState::kPlaced,
            fmt::format("on {} GPU {}{}", r.node, fmt::join(r.gpus, ","),
                        alloc->slot.valid() ? " (from its warm reserve)" : ""),
            now);
}

// Highest priority first, after pending replicas: a reserve is headroom, real demand goes first.
void Fleet::hold_reserves(TimePoint now) {
  std::vector<const DeploymentSpec*> order;
  for (const auto& [name, d] : deployments_)
    order.push_back(&d.spec);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto* a, const auto* b) { return a->priority > b->priority; });
  // While a preemption plan waits for its victims, reserves do not grow: they would take the
  // GPUs it counts on.
  for (const DeploymentSpec* spec : order)
    reserves_.sync(pool_, sched_, *spec, now, preemptions_.empty());
}

void Fleet::tick(TimePoint now) {
  due_.reset();
  for (auto& [name, n] : nodes_) {
    // After a controller restart nodes are Unknown: they get one lease from the start to report.
    TimePoint seen = std::max(n.last_seen, started_);
    if (n.state != NodeState::kLost && now - seen > lease(n)) node_lost(n, now);
  }
  evacuate(now);
  // A deployment whose replicas and spec did not change since its last pass, with no rollout
  // under way and nothing moving off a faulty GPU, would get the same answer: nothing to do. At
  // fleet scale that skips reading every replica five times a second (#18).
  for (auto& [name, d] : deployments_) {
    if (at_rest_.count(name) != 0 && to_reconcile_.count(name) == 0 && moving_.empty()) continue;
    reconcile(d, now);
  }
  // Canary analysis said roll back: return to the stable revision (its replicas still serve).
  std::vector<std::pair<std::string, std::string>> rollbacks;
  for (auto& [name, d] : deployments_) {
    if (!d.rollback_reason.empty()) rollbacks.emplace_back(name, d.rollback_reason);
  }
  for (const auto& [name, reason] : rollbacks) {
    DeploymentRecord& d = deployments_.at(name);
    const RevisionRecord* prev = nullptr;
    for (const auto& h : d.history) {
      if (h.revision == d.stable_revision && h.spec) prev = &h;
    }
    d.rollback_reason.clear();
    if (prev == nullptr) continue;
    event(now, "RolloutRolledBack", name, d.revision, prev->revision, reason);
    DeploymentSpec spec = *prev->spec;
    std::string manifest = prev->manifest;
    (void)apply(spec, manifest, now);
  }
  sweep(now);
  place_pending(now);
  hold_reserves(now);
  collect_pool_events();
  // At fleet scale a rebuild reads every replica: only when something changed, or a moved load
  // is due, or a published one did expire (its engine's node stopped reporting it).
  // A large fleet's changes wait for their batch here too (a small one's are published at once).
  const bool batch_over = replicas_.size() <= opts_.routing_batch_replicas || !last_rebuild_ ||
                          now >= *last_rebuild_ + routing_batch();
  if ((routing_dirty_ && batch_over) || (load_due_ && now >= *load_due_) ||
      (load_expiry_ && now >= *load_expiry_ && published_load_expired(now)))
    rebuild_routing(now);
}

Duration Fleet::routing_batch() const {
  const size_t per = std::max<size_t>(1, opts_.routing_batch_replicas);
  const size_t steps = std::max<size_t>(1, replicas_.size() / per);
  return opts_.routing_batch * static_cast<int64_t>(steps);
}

// Every heartbeat refreshes its replicas' loads, so at a published load's expiry time it has
// most often been read again since: then only the next expiry moves, and the table stays.
bool Fleet::published_load_expired(TimePoint now) {
  const Duration max_age = load_max_age();
  load_expiry_.reset();
  bool expired = false;
  for (const auto& [id, x] : published_) {
    if (!x.route->kv_cache_usage && !x.route->queue_length) continue;
    if (!x.record->load) {
      expired = true;  // no longer known: the table must say so
      continue;
    }
    const TimePoint expires = x.record->load_as_of + max_age + Duration(1);
    expired = expired || now >= expires;
    if (!load_expiry_ || expires < *load_expiry_) load_expiry_ = expires;
  }
  return expired;
}

void Fleet::observe_busy(double share, TimePoint now) {
  pacer_.observe(share, now);
}

Duration Fleet::lease(const NodeRecord& n) const {
  return pacer_.lease(opts_.node_lease, n.told_interval);
}

const std::map<std::string, ReplicaRecord*>& Fleet::on_node(const std::string& node) const {
  static const std::map<std::string, ReplicaRecord*> kNone;
  auto it = by_node_.find(node);
  return it == by_node_.end() ? kNone : it->second;
}

const std::set<std::string>& Fleet::of_deployment(const std::string& deployment) const {
  static const std::set<std::string> kNone;
  auto it = by_deployment_.find(deployment);
  return it == by_deployment_.end() ? kNone : it->second;
}

void Fleet::due(TimePoint now) {
  if (!due_ || now < *due_) due_ = now;
}

std::optional<TimePoint> Fleet::next_deadline() const {
  std::optional<TimePoint> next = due_;
  auto earliest = [&next](TimePoint t) {
    if (!next || t < *next) next = t;
  };
  for (const auto& [name, n] : nodes_) {
    // The moment its lease runs out; tick() finds it lost just after (a strict comparison).
    if (n.state != NodeState::kLost)
      earliest(std::max(n.last_seen, started_) + lease(n) + Duration(1));
  }
  if (routing_dirty_) earliest(last_rebuild_ ? *last_rebuild_ + routing_batch() : started_);
  for (const auto& [name, d] : deployments_) {
    if (auto t = rollout_deadline(d, opts_.blue_green_retention)) earliest(*t);
    if (!d.rollback_reason.empty()) earliest(started_);
  }
  if (load_due_) earliest(*load_due_);
  if (load_expiry_) earliest(*load_expiry_);
  return next;
}

void Fleet::restore(DeploymentRecord d) {
  std::string name = d.spec.name;
  deployments_[name] = std::move(d);
}

void Fleet::restore(ReplicaRecord r, TimePoint now) {
  r.since = now;
  r.allocation = AllocationId{};
  generation_ = std::max(generation_, r.generation);
  if (!r.node.empty()) {
    auto [it, inserted] = nodes_.try_emplace(r.node);
    if (inserted) it->second.name = r.node;  // Unknown until its agent reports
  }
  std::string id = r.id;
  by_deployment_[r.deployment].insert(id);
  index_state(r, std::nullopt);
  ReplicaRecord& kept = replicas_[id] = std::move(r);
  if (!kept.node.empty()) by_node_[kept.node][id] = &kept;
}

// ---- routing ---------------------------------------------------------------------------------

std::optional<ReplicaLoad> Fleet::replica_load(const std::string& replica, TimePoint now) const {
  auto it = replicas_.find(replica);
  if (it == replicas_.end()) return std::nullopt;
  const ReplicaLoad* fresh = fresh_load(it->second, now);
  if (fresh == nullptr) return std::nullopt;
  ReplicaLoad l = *fresh;
  l.age = std::max(Duration(0), now - it->second.load_as_of);
  return l;
}

const ReplicaLoad* Fleet::fresh_load(const ReplicaRecord& r, TimePoint now) const {
  if (!r.load || now - r.load_as_of > load_max_age()) return nullptr;
  return &*r.load;
}

std::string Fleet::why_unavailable(const std::string& deployment) const {
  int active_count = 0;
  const ReplicaRecord* looping = nullptr;
  int loops = 0;
  for (const std::string& id : of_deployment(deployment)) {
    const ReplicaRecord& r = replicas_.at(id);
    if (!active(r)) continue;
    ++active_count;
    if (r.state == ReplicaState::kCrashLoop) {
      ++loops;
      looping = &r;
    }
  }
  // Only when every replica crash-loops: one starting, or waiting for a GPU, may yet serve.
  if (active_count == 0 || loops != active_count) return {};
  return fmt::format("0 of {} replicas ready, {} crash-looping (last: {})", active_count, loops,
                     looping->reason);
}

void Fleet::rebuild_routing(TimePoint now) {
  routing_dirty_ = false;
  last_rebuild_ = now;
  RoutingTable t;
  std::unordered_map<std::string, const ReplicaRecord*> records;  // of the table's replicas
  records.reserve(published_.size());
  for (const auto& [name, d] : deployments_) {
    RouteModel m;
    m.model = d.spec.model;
    m.deployment = name;
    m.policy = d.spec.routing;
    m.tenants = d.spec.tenants;
    std::map<std::string, RouteRevision> revs;
    struct Ready {
      const std::string* id;
      const ReplicaRecord* r;
      const std::string* host;
    };
    std::vector<Ready> ready;
    std::vector<std::string> gpu_models;
    for (const std::string& id : of_deployment(name)) {
      const ReplicaRecord& r = replicas_.at(id);
      if (r.state != ReplicaState::kReady || r.port == 0) continue;
      auto n = nodes_.find(r.node);
      if (n == nodes_.end() || n->second.state != NodeState::kReady) continue;
      ready.push_back({&id, &r, &n->second.host});
      if (std::find(gpu_models.begin(), gpu_models.end(), r.gpu_model) == gpu_models.end())
        gpu_models.push_back(r.gpu_model);
    }
    // A replica on a slower GPU model serves less: the table says how much (perf model, reference
    // request), once per GPU model the deployment's ready replicas run on.
    const std::map<std::string, double> speeds = relative_speeds(d.spec, gpu_models);
    for (const auto& [id, rec, host] : ready) {
      const ReplicaRecord& r = *rec;
      auto& rev = revs[r.revision];
      rev.revision = r.revision;
      RouteReplica rep{*id, fmt::format("{}:{}", *host, r.port)};
      rep.restarts = r.restarts;
      if (auto s = speeds.find(r.gpu_model); s != speeds.end()) rep.speed = s->second;
      if (const ReplicaLoad* l = fresh_load(r, now)) {
        rep.kv_cache_usage = l->kv_cache_usage;
        rep.queue_length = l->waiting;
      }
      rev.replicas.push_back(std::move(rep));
      records.emplace(*id, &r);
    }
    // Rolling updates split traffic by ready replicas; blue-green and canary by their stage.
    for (auto& [rev, x] : revs) {
      x.weight = revision_weight(d, rev, static_cast<int>(x.replicas.size()));
      m.revisions.push_back(std::move(x));
    }
    if (m.revisions.empty()) m.unavailable = why_unavailable(name);
    t.models.push_back(std::move(m));
  }
  // Replicas changed: publish at once, with the latest load. Only the load changed: publish when
  // it moved enough, and no sooner than min_interval after the last load publication
  // (fleet/load_publication.h says why); until then the table keeps the values last published.
  const bool replicas_changed = !same_replicas(routing_, t);
  bool publish = replicas_changed;
  load_due_.reset();
  if (!replicas_changed && load_moved(routing_, t, opts_.load_publication)) {
    const Duration every = opts_.load_publication.min_interval;
    if (!last_load_publish_ || now >= *last_load_publish_ + every) {
      publish = true;
    } else {
      load_due_ = *last_load_publish_ + every;
    }
  }
  if (publish) {
    t.version = routing_.version + 1;
    routing_ = std::move(t);
    last_load_publish_ = now;
    published_.clear();
    for (const auto& m : routing_.models)
      for (const auto& r : m.revisions)
        for (const auto& x : r.replicas)
          published_.emplace(x.id, Published{&x, records.at(x.id)});
  }
  // A published load that nobody refreshes must leave the table once it is too old: the first
  // time that happens is a deadline (a simulator has no other reason to look).
  (void)published_load_expired(now);
}

RolloutProgress Fleet::rollout_progress(const std::string& name) const {
  RolloutProgress p;
  auto it = deployments_.find(name);
  if (it == deployments_.end()) return p;
  const auto& d = it->second;
  p.target = d.replicas;
  for (const std::string& id : of_deployment(name)) {
    const ReplicaRecord& r = replicas_.at(id);
    if (!active(r)) continue;
    if (r.revision == d.revision) {
      ++p.current;
      p.ready_current += r.state == ReplicaState::kReady;
    } else {
      ++p.old;
    }
  }
  return p;
}

std::string Fleet::rollout_status(const std::string& name) const {
  auto it = deployments_.find(name);
  if (it == deployments_.end()) return "no deployment named \"" + name + "\"";
  RolloutProgress p = rollout_progress(name);
  std::string s = fmt::format("revision {}: {}/{} replicas ready", it->second.revision,
                              p.ready_current, p.target);
  if (p.old > 0) s += fmt::format("; {} of older revisions still running", p.old);
  if (p.complete()) s += "; rollout complete";
  return s;
}

}  // namespace gf
