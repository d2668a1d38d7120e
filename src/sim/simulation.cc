#include "sim/simulation.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "admission/tenant_directory.h"
#include "autoscale/autoscaler.h"
#include "common/traffic_report.h"
#include "common/vllm_buckets.h"
#include "fleet/fleet.h"
#include "perfmodel/batch_engine.h"
#include "perfmodel/deployment_perf.h"
#include "perfmodel/perf_model_cost.h"
#include "serving/serving.h"
#include "sim/run_recorder.h"

namespace gf {
namespace {

using namespace std::chrono_literals;

// One replica process on a simulated node: starting for its cold start, then serving through its
// BatchEngine, then draining, then gone.
struct SimReplica {
  std::string id;
  int64_t generation = 0;
  size_t deployment = 0;
  size_t node = 0;
  int gpus = 1;
  double price_per_gpu_hour = 0;
  TimePoint started{};
  TimePoint ready_at{};
  std::vector<std::string> gpu_uuids;
  std::string gpu_model;
  int restarts = 0;
  const PerfModelCost* cost = nullptr;  // to build its engine again after a crash
  BatchEngineConfig engine_config;
  bool draining = false;
  bool stopped = false;
  std::unique_ptr<BatchEngine> engine;
  bool busy = false;
  TimePoint busy_until{};
  uint64_t wake = 0;  // bumps each iteration: a queued wake-up for an older one is stale
  EngineIteration running;
  std::unordered_set<size_t> requests;  // trace indices in the engine
  // The engine's TTFT histogram since its process started (common/traffic_report.h's buckets),
  // as the agent scrapes it from a live engine's /metrics: from the request's arrival at the
  // engine to its first token.
  std::vector<uint64_t> ttft_counts;
  // Its queue-time histogram as the agent reads vLLM's request_queue_time_seconds: from the
  // arrival at the engine to the first iteration that took the request into its batch, counted
  // when the request finishes, in vLLM's buckets re-bucketed into the gateways'.
  std::vector<uint64_t> queue_counts;
};

// A node's agent: its GPUs, and the replicas it runs by id.
struct SimNode {
  NodeReport base;  // name, GPUs, topology: what every report repeats; the last report's replicas
  bool alive = true;
  int incarnation = 0;  // a returning node's agent is a new process with a new id
  uint64_t seq = 0;
  int64_t applied = 0;
  // The last set a full answer sent: an "unchanged" answer applies it again, as the agent does
  // (agent/controller_link.h), so most heartbeats cost the fleet no assignment to build.
  std::optional<NodeAssignment> last_set;
  std::map<std::string, size_t> replicas;  // id -> index into Simulation::replicas_
};

// One trace request's way through the run.
struct SimRequest {
  RequestId serving = 0;
  TimePoint at_engine{};  // when the current attempt reached its engine
  // When the current attempt first got a place in its engine's batch: before it, waiting (in a
  // gateway, in the engine's queue); after it, prefill.
  std::optional<TimePoint> scheduled;
  std::optional<TimePoint> first_token;
  bool ended = false;
};

struct Wake {
  TimePoint at;
  uint64_t order;  // ties resolve in scheduling order: deterministic
  size_t replica;
  uint64_t wake;
  bool operator>(const Wake& o) const { return at != o.at ? at > o.at : order > o.order; }
};

std::string cost_key(const std::string& gpu, const DeploymentSpec& d) {
  return fmt::format("{}|{}|{}", gpu, d.model, d.resources.gpus);
}

class Simulation {
 public:
  // `tenants` is the directory `serving` was made from (it keeps pointers into it).
  Simulation(const SimInput& in, const SimOptions& opts, Fleet fleet,
             std::unique_ptr<TenantDirectory> tenants, Serving serving, TimePoint start,
             TimePoint measure_from, size_t first_measured)
      : in_(in),
        opts_(opts),
        trace_(*in.trace),
        fleet_(std::move(fleet)),
        tenants_(std::move(tenants)),
        serving_(std::move(serving)),
        start_(start),
        first_measured_(first_measured),
        measure_from_(measure_from),
        recorder_(in, opts, start, measure_from, first_measured) {}

  Status init(TimePoint t0);
  SimResult run(TimePoint t0);

 private:
  // ---- the control plane, once per heartbeat: agents report, the gateway reports
  void control(TimePoint now);
  void heartbeat(SimNode& node, size_t index, TimePoint now);
  void start_replica(size_t node, const ReplicaAssignment& a, TimePoint now);
  void stop_replica(size_t r, TimePoint now);
  void follow_table(TimePoint now);
  void autoscale(TimePoint now);

  // ---- the gateway and the engines
  void arrive(size_t i, TimePoint now);
  void send(size_t i, TimePoint now);
  void fail(size_t i, Failure f, AttemptPhase phase, TimePoint now);
  void end(size_t i, RequestOutcome outcome, TimePoint now);
  void kick(size_t r, TimePoint now);
  // The earliest moment anything outside the engines may touch one: an engine may run its quiet
  // iterations until then at once (BatchEngine::step with a budget). `queued`: the gateway holds
  // a request (serving_.next_deadline(), asked once by the caller).
  TimePoint quiet_until(TimePoint now, TimePoint next_control, std::optional<TimePoint> control_due,
                        TimePoint give_up, bool queued) const;
  void complete(size_t r, TimePoint now);
  void pump(TimePoint now);
  // ---- injected faults (sim/scenario.h)
  void inject(const ScenarioEvent& e, TimePoint now);
  void crash(size_t r, TimePoint now);
  // Fails every request the replica's engine held (its process is gone or restarting).
  void break_connections(SimReplica& rep, TimePoint now);
  // Counts the GPU time of the iterations a cut stops part-way (a crash, a stop, the run's end):
  // busy until `now`, so it does not matter how many iterations one step ran.
  void cut_busy(SimReplica& rep, TimePoint now);

  // The 1-based number in the user's trace of replay request `i`.
  size_t trace_number(size_t i) const {
    return (i < first_measured_ ? i : i - first_measured_) + 1;
  }
  Result<const PerfModelCost*> cost_of(const std::string& gpu, const DeploymentSpec& d);

  const SimInput& in_;
  const SimOptions& opts_;
  const Trace& trace_;
  Fleet fleet_;
  std::unique_ptr<TenantDirectory> tenants_;
  Serving serving_;
  Autoscaler autoscaler_;
  const TimePoint start_;  // the replay's time 0 (the warm-up's start)
  // The replay's requests before this index are the warm-up's copies of the trace's first ones.
  const size_t first_measured_;
  const TimePoint measure_from_;  // the measured trace's time 0: scenario times count from it
  RunRecorder recorder_;

  std::vector<SimNode> nodes_;
  std::vector<SimReplica> replicas_;
  std::unordered_map<std::string, size_t> live_;  // replica id -> index, while running
  std::vector<SimRequest> requests_;
  std::unordered_map<RequestId, size_t> by_serving_;
  std::vector<const TenantSpec*> tenant_of_;  // per request
  std::priority_queue<Wake, std::vector<Wake>, std::greater<>> wakes_;
  uint64_t order_ = 0;
  TimePoint horizon_{};  // what quiet_until() said for the wake-ups at hand; else now: no jump
  uint64_t table_version_ = 0;
  size_t next_arrival_ = 0;
  size_t next_fault_ = 0;
  size_t ended_ = 0;
  std::map<std::string, std::unique_ptr<PerfModelCost>> costs_;
  std::map<std::string, size_t, std::less<>> deployment_index_;
  bool prefix_cache_ = false;
};

Status Simulation::init(TimePoint t0) {
  for (size_t d = 0; d < in_.deployments.size(); ++d) {
    deployment_index_[in_.deployments[d].name] = d;
    if (auto s = fleet_.apply(in_.deployments[d], "", t0); !s.ok())
      return make_error(s.error().code, fmt::format("deployment \"{}\": {}",
                                                    in_.deployments[d].name, s.error().message));
  }
  for (const NodeSpec& n : in_.cluster.nodes) {
    SimNode node;
    node.base.node = n.name;
    node.base.agent_id = "sim-" + n.name;
    node.base.host = n.name;
    node.base.labels = n.labels;
    node.base.nvlink_groups = n.nvlink_groups;
    int index = 0;
    for (const GpuGroupSpec& g : n.gpus) {
      for (int i = 0; i < g.count; ++i, ++index) {
        GpuReport r;
        r.uuid = g.uuids.empty() ? fmt::format("GPU-{}-{}", n.name, index) : g.uuids[i];
        r.index = index;
        r.name = g.model;
        r.memory = g.memory;
        node.base.gpus.push_back(std::move(r));
      }
    }
    nodes_.push_back(std::move(node));
  }
  // Requests: their tenants now, so that the run meets no unknown name.
  requests_.resize(trace_.requests.size());
  tenant_of_.resize(trace_.requests.size());
  const TenantSpec* anonymous = tenants_->open_mode() ? &tenants_->tenants().front() : nullptr;
  for (size_t i = 0; i < trace_.requests.size(); ++i) {
    const TraceRequest& r = trace_.requests[i];
    if (!r.prefix_blocks.empty()) prefix_cache_ = true;
    if (r.tenant.empty()) {
      tenant_of_[i] = anonymous;
      if (anonymous == nullptr)
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("trace request {} names no tenant, and Tenant manifests are "
                                      "given: map the trace to them (--tenants)",
                                      trace_number(i)));
      continue;
    }
    tenant_of_[i] = tenants_->find(r.tenant);
    if (tenant_of_[i] == nullptr)
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("trace request {} names tenant \"{}\", which no Tenant "
                                    "manifest defines",
                                    trace_number(i), r.tenant));
  }
  return {};
}

Result<const PerfModelCost*> Simulation::cost_of(const std::string& gpu, const DeploymentSpec& d) {
  const std::string key = cost_key(gpu, d);
  auto it = costs_.find(key);
  if (it != costs_.end()) return it->second.get();
  auto pm = deployment_perf_model(d, gpu);
  if (!pm.ok()) return pm.error();
  auto [pos, _] = costs_.emplace(key, std::make_unique<PerfModelCost>(std::move(*pm)));
  return pos->second.get();
}

void Simulation::control(TimePoint now) {
  autoscale(now);
  if (auto d = fleet_.next_deadline(); d && *d <= now) fleet_.tick(now);
  for (size_t n = 0; n < nodes_.size(); ++n)
    if (nodes_[n].alive) heartbeat(nodes_[n], n, now);
  follow_table(now);
  TrafficReport report = serving_.take_report(now);
  report.gateway = "sim";
  autoscaler_.record(report, now);
  autoscale(now);  // a model at zero with requests waiting gets its replica now, as live
  std::vector<int> started(in_.deployments.size(), 0), ready(in_.deployments.size(), 0);
  std::map<std::string, int> gpus;
  for (const auto& [id, r] : live_) {
    ++started[replicas_[r].deployment];
    ready[replicas_[r].deployment] += now >= replicas_[r].ready_at;
    gpus[replicas_[r].gpu_model] += replicas_[r].gpus;
  }
  recorder_.sample(now, started, ready, gpus);
}

void Simulation::autoscale(TimePoint now) {
  auto due = autoscaler_.next_deadline(fleet_);
  if (!due || *due > now) return;
  for (const ScalingDecision& d : autoscaler_.tick(fleet_, now)) {
    if (!d.changed()) continue;
    auto it = deployment_index_.find(d.deployment);
    if (it != deployment_index_.end()) recorder_.scaled(it->second, d);
  }
}

void Simulation::heartbeat(SimNode& node, size_t index, TimePoint now) {
  // Refilled in place, not copied: its GPUs and topology repeat in every report.
  NodeReport& r = node.base;
  r.seq = ++node.seq;
  r.applied_generation = node.applied;
  r.accepts_unchanged = opts_.unchanged_heartbeat_answers && node.last_set.has_value();
  r.replicas.clear();
  uint16_t port = 20000;
  for (const auto& [id, ri] : node.replicas) {
    const SimReplica& rep = replicas_[ri];
    ReplicaReport rr;
    rr.id = id;
    rr.generation = rep.generation;
    rr.state = now >= rep.ready_at ? ReplicaProcessState::kReady : ReplicaProcessState::kStarting;
    rr.port = port++;
    rr.restarts = rep.restarts;
    if (rep.engine && now >= rep.ready_at) {
      // What the agent scrapes from the engine's metrics (agent/load_summary.h).
      const EngineStats s = rep.engine->stats();
      ReplicaLoad load;
      load.running = s.running;
      load.waiting = s.waiting;
      load.kv_cache_usage = s.kv_usage;
      load.prompt_tokens = Tokens(static_cast<int64_t>(s.prompt_tokens));
      load.generation_tokens = Tokens(static_cast<int64_t>(s.generation_tokens));
      load.ttft_counts = rep.ttft_counts;
      load.queue_counts = rep.queue_counts;
      rr.load = load;
    }
    r.replicas.push_back(std::move(rr));
  }
  auto answer = fleet_.heartbeat(r, now);
  if (!answer.ok() || answer->generation < node.applied) return;
  node.applied = answer->generation;
  if (!answer->unchanged) node.last_set = std::move(*answer);
  if (!node.last_set) return;  // "unchanged" before any set: nothing to keep (as the agent)
  std::set<std::string> keep;
  for (const ReplicaAssignment& a : node.last_set->replicas) {
    keep.insert(a.id);
    auto it = node.replicas.find(a.id);
    if (it == node.replicas.end()) {
      if (!a.draining) start_replica(index, a, now);
      continue;
    }
    SimReplica& rep = replicas_[it->second];
    if (a.draining && !rep.draining) {
      rep.draining = true;
      if (!rep.engine || rep.engine->idle()) stop_replica(it->second, now);
    }
  }
  // What the answer no longer lists stops at once (its requests break).
  std::vector<size_t> gone;
  for (const auto& [id, ri] : node.replicas)
    if (!keep.count(id)) gone.push_back(ri);
  for (size_t ri : gone)
    stop_replica(ri, now);
}

void Simulation::start_replica(size_t node, const ReplicaAssignment& a, TimePoint now) {
  auto d = deployment_index_.find(a.deployment);
  if (d == deployment_index_.end()) return;
  const DeploymentSpec& spec = in_.deployments[d->second];
  auto cost = cost_of(a.gpu_model, spec);
  SimReplica rep;
  rep.id = a.id;
  rep.generation = a.generation;
  rep.deployment = d->second;
  rep.node = node;
  rep.gpus = static_cast<int>(a.gpus.size());
  rep.started = now;
  rep.gpu_uuids = a.gpus;
  rep.gpu_model = a.gpu_model;
  if (auto p = in_.cluster.placement.gpu_prices.find(a.gpu_model);
      p != in_.cluster.placement.gpu_prices.end())
    rep.price_per_gpu_hour = p->second;
  if (cost.ok()) {
    const PerfModel& pm = (*cost)->model();
    MiB memory{0};
    for (const GpuReport& g : nodes_[node].base.gpus)
      if (g.uuid == a.gpus.front()) memory = g.memory;
    BatchEngineConfig c;
    c.kv_capacity = pm.kv_capacity(memory, a.memory_fraction);
    c.prefix_cache = prefix_cache_;
    c.prefix_block_tokens = static_cast<int>(kTracePrefixBlockTokens.value);
    c.every_token = false;  // TTFT and the end are all that is measured
    c.chunked_prefill = opts_.chunked_prefill;
    // The budget the controller named (Fleet resolves engine.maxBatchedTokens), else vLLM's.
    c.max_batched_tokens =
        a.max_batched_tokens.value_or(PerfModel::default_max_batched_tokens(a.gpu_model));
    rep.cost = *cost;
    rep.engine_config = c;
    rep.engine = std::make_unique<BatchEngine>(**cost, c);
    rep.ttft_counts.assign(kTtftBoundsMs.size() + 1, 0);
    rep.queue_counts.assign(kTtftBoundsMs.size() + 1, 0);
    rep.ready_at = now + pm.cold_start(opts_.load_bytes_per_second, opts_.engine_init);
  } else {
    // No latency model for this pair: the process never becomes ready (the live engine-sim
    // would refuse to start), and its GPUs are held all the same.
    rep.ready_at = TimePoint::max();
  }
  const size_t index = replicas_.size();
  replicas_.push_back(std::move(rep));
  nodes_[node].replicas[a.id] = index;
  live_[a.id] = index;
  recorder_.started(replicas_[index].deployment, now);
}

void Simulation::stop_replica(size_t r, TimePoint now) {
  SimReplica& rep = replicas_[r];
  if (rep.stopped) return;
  rep.stopped = true;
  nodes_[rep.node].replicas.erase(rep.id);
  live_.erase(rep.id);
  recorder_.stopped(rep.deployment, rep.gpus, rep.price_per_gpu_hour, rep.started, now);
  rep.engine.reset();
  break_connections(rep, now);
}

void Simulation::break_connections(SimReplica& rep, TimePoint now) {
  // A stream that had begun fails; a request still waiting for its first byte may go to another
  // replica. In id order: the retries' order must not depend on a hash set's.
  std::vector<size_t> held(rep.requests.begin(), rep.requests.end());
  std::sort(held.begin(), held.end());
  rep.requests.clear();
  cut_busy(rep, now);
  ++rep.wake;  // its running iteration never ends
  for (size_t i : held) {
    const bool streaming = requests_[i].first_token.has_value();
    fail(i, Failure::kReset, streaming ? AttemptPhase::kStreaming : AttemptPhase::kBeforeHead, now);
  }
}

void Simulation::cut_busy(SimReplica& rep, TimePoint now) {
  if (!rep.busy) return;
  rep.busy = false;
  recorder_.busy(rep.deployment, rep.gpus, now - (rep.busy_until - rep.running.duration), now);
}

void Simulation::follow_table(TimePoint now) {
  const RoutingTable& t = fleet_.routing_table();
  if (t.version == table_version_) return;
  table_version_ = t.version;
  (void)serving_.apply_table(t, now);
}

void Simulation::arrive(size_t i, TimePoint now) {
  const TraceRequest& tr = trace_.requests[i];
  Arrival a;
  a.tenant = tenant_of_[i];
  a.model = tr.model;
  a.prompt_tokens = tr.prompt;
  if (opts_.exact_max_tokens) a.max_tokens = tr.output.value;
  AdmitResult res = serving_.admit(a, now);
  if (const auto* refusal = std::get_if<Refusal>(&res)) {
    (void)refusal;
    end(i, RequestOutcome::kRejected, now);
    return;
  }
  const Entered& e = std::get<Entered>(res);
  requests_[i].serving = e.id;
  by_serving_[e.id] = i;
  if (!e.queued) send(i, now);
}

void Simulation::send(size_t i, TimePoint now) {
  const TraceRequest& tr = trace_.requests[i];
  RouteHints hints;
  hints.prefix_blocks = tr.prefix_blocks;
  PickResult p = serving_.pick(requests_[i].serving, hints, now);
  if (std::holds_alternative<GiveUp>(p)) {
    serving_.finish(requests_[i].serving, UsedTokens{}, now);
    end(i, RequestOutcome::kFailed, now);
    return;
  }
  auto live = live_.find(*std::get<Attempt>(p).replica);
  if (live == live_.end() || !replicas_[live->second].engine ||
      now < replicas_[live->second].ready_at) {
    fail(i, Failure::kRefused, AttemptPhase::kBeforeHead, now);  // nothing listens there (yet)
    return;
  }
  SimReplica& rep = replicas_[live->second];
  EngineRequest er{i, tr.prompt, tr.output, tr.prefix_blocks};
  if (!rep.engine->submit(er)) {
    // Longer than the replica's KV cache: the engine answers 400, nothing to retry.
    (void)serving_.succeed(requests_[i].serving, 400, now - (start_ + tr.arrival), now);
    serving_.finish(requests_[i].serving, UsedTokens{}, now);
    end(i, RequestOutcome::kRejected, now);
    return;
  }
  rep.requests.insert(i);
  requests_[i].at_engine = now;
  requests_[i].scheduled.reset();
  kick(live->second, now);
}

void Simulation::fail(size_t i, Failure f, AttemptPhase phase, TimePoint now) {
  const Duration elapsed = now - (start_ + trace_.requests[i].arrival);
  AttemptEnd e = serving_.fail(requests_[i].serving, f, phase, elapsed, now);
  requests_[i].first_token.reset();
  if (e.retry) {
    send(i, now);
    return;
  }
  serving_.finish(requests_[i].serving, UsedTokens{}, now);
  end(i, RequestOutcome::kFailed, now);
}

void Simulation::end(size_t i, RequestOutcome outcome, TimePoint now) {
  SimRequest& r = requests_[i];
  if (r.ended) return;
  r.ended = true;
  ++ended_;
  by_serving_.erase(r.serving);
  recorder_.request(i, outcome, r.first_token, r.scheduled, now);
}

void Simulation::kick(size_t r, TimePoint now) {
  SimReplica& rep = replicas_[r];
  if (rep.busy || !rep.engine || rep.engine->idle()) return;
  rep.engine->step(rep.running, horizon_ > now ? horizon_ - now : Duration::zero());
  if (rep.running.duration <= Duration::zero()) return;
  rep.busy = true;
  rep.busy_until = now + rep.running.duration;
  wakes_.push(Wake{rep.busy_until, order_++, r, ++rep.wake});
}

TimePoint Simulation::quiet_until(TimePoint now, TimePoint next_control,
                                  std::optional<TimePoint> control_due, TimePoint give_up,
                                  bool queued) const {
  // A queued request may be dispatched as soon as any engine finishes one: no jumping then.
  if (queued) return now;
  TimePoint h = std::min(next_control, give_up);
  if (control_due) h = std::min(h, *control_due);
  if (next_arrival_ < trace_.requests.size())
    h = std::min(h, start_ + trace_.requests[next_arrival_].arrival);
  if (next_fault_ < in_.scenario.events.size())
    h = std::min(h, measure_from_ + in_.scenario.events[next_fault_].at);
  // The recorder counts busy time from the start: no run spans it.
  if (now < start_) h = std::min(h, start_);
  return h;
}

void Simulation::complete(size_t r, TimePoint now) {
  SimReplica& rep = replicas_[r];
  rep.busy = false;
  recorder_.busy(rep.deployment, rep.gpus, rep.running.duration, now);
  for (const EngineEvent& ev : rep.running.events) {
    if (ev.kind == EngineEventKind::kScheduled) {
      // At the start of this iteration (one iteration: a step of several admits nobody).
      SimRequest& req = requests_[ev.id];
      if (!req.scheduled) req.scheduled = now - rep.running.duration;
      continue;
    }
    if (ev.kind != EngineEventKind::kToken && ev.kind != EngineEventKind::kFinished) continue;
    const size_t i = ev.id;
    SimRequest& req = requests_[i];
    if (req.ended) continue;
    if (!req.first_token) {
      req.first_token = now;
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - req.at_engine);
      ++rep.ttft_counts[ttft_bucket(ms.count())];
    }
    if (ev.kind != EngineEventKind::kFinished) continue;
    // vLLM observes the queue time when the request finishes, in its own buckets, which the agent
    // re-buckets into the gateways' (common/vllm_buckets.h).
    if (req.scheduled)
      ++rep.queue_counts[vllm_request_latency_bucket(to_ms(*req.scheduled - req.at_engine))];
    const TraceRequest& tr = trace_.requests[i];
    rep.requests.erase(i);
    (void)serving_.succeed(req.serving, 200, *req.first_token - (start_ + tr.arrival), now);
    serving_.finish(req.serving, UsedTokens{tr.prompt, tr.output}, now);
    end(i, RequestOutcome::kServed, now);
  }
  if (rep.draining && rep.engine->idle()) {
    stop_replica(r, now);
    return;
  }
  kick(r, now);
}

void Simulation::inject(const ScenarioEvent& e, TimePoint now) {
  const auto node = std::find_if(nodes_.begin(), nodes_.end(),
                                 [&](const SimNode& n) { return n.base.node == e.node; });
  switch (e.kind) {
    case FaultKind::kNodeLoss: {
      if (node == nodes_.end() || !node->alive) return;
      node->alive = false;
      std::vector<size_t> held;
      for (const auto& [id, r] : node->replicas)
        held.push_back(r);
      for (size_t r : held)
        stop_replica(r, now);
      return;
    }
    case FaultKind::kNodeReturn:
      if (node == nodes_.end() || node->alive) return;
      node->alive = true;
      node->base.agent_id = fmt::format("sim-{}-{}", node->base.node, ++node->incarnation);
      node->seq = 0;
      node->applied = 0;
      node->last_set.reset();  // a new agent process has applied no set
      for (GpuReport& g : node->base.gpus) {
        g.health = Health::kHealthy;
        g.reason.clear();
      }
      return;
    case FaultKind::kGpuFault: {
      if (node == nodes_.end() || e.gpu >= static_cast<int>(node->base.gpus.size())) return;
      GpuReport& g = node->base.gpus[static_cast<size_t>(e.gpu)];
      g.health = Health::kFaulty;
      g.reason = e.reason;
      // The process on a GPU that fell off the bus dies with it; the fleet decides where it goes.
      std::vector<size_t> hit;
      for (const auto& [id, r] : node->replicas) {
        const auto& u = replicas_[r].gpu_uuids;
        if (std::find(u.begin(), u.end(), g.uuid) != u.end()) hit.push_back(r);
      }
      for (size_t r : hit)
        stop_replica(r, now);
      return;
    }
    case FaultKind::kEngineCrash: {
      std::optional<std::string> victim;  // the lowest id of the deployment's running replicas
      for (const auto& [id, r] : live_)
        if (in_.deployments[replicas_[r].deployment].name == e.deployment &&
            (!victim || id < *victim))
          victim = id;
      if (victim) crash(live_.at(*victim), now);
      return;
    }
  }
}

void Simulation::crash(size_t r, TimePoint now) {
  SimReplica& rep = replicas_[r];
  // The agent restarts the process at once; it loads its weights again.
  ++rep.restarts;
  recorder_.restarted(rep.deployment, now);
  if (rep.cost != nullptr) {
    rep.engine = std::make_unique<BatchEngine>(*rep.cost, rep.engine_config);
    rep.ttft_counts.assign(kTtftBoundsMs.size() + 1, 0);  // a new process counts from zero
    rep.queue_counts.assign(kTtftBoundsMs.size() + 1, 0);
    rep.ready_at =
        now + rep.cost->model().cold_start(opts_.load_bytes_per_second, opts_.engine_init);
  }
  break_connections(rep, now);
}

void Simulation::pump(TimePoint now) {
  while (auto id = serving_.dispatch()) {
    auto it = by_serving_.find(*id);
    if (it != by_serving_.end()) send(it->second, now);
  }
}

SimResult Simulation::run(TimePoint t0) {
  const size_t total = trace_.requests.size();
  const TimePoint last_arrival = total ? start_ + trace_.requests.back().arrival : start_;
  const TimePoint give_up = last_arrival + opts_.max_tail;
  TimePoint now = t0;
  TimePoint next_control = t0;
  uint64_t events = 0;
  size_t reported = 0;
  // The fleet's and the autoscaler's deadlines move only when they are fed (heartbeats and
  // reports at a control step, a fault, their own tick): asked again only then, not at each of
  // the millions of engine iterations between.
  std::optional<TimePoint> control_due;
  bool stale = true;
  while (true) {
    if (now >= next_control) {
      control(now);
      next_control += opts_.heartbeat;
      ++events;
      stale = true;
    }
    if (stale || (control_due && *control_due <= now)) {
      if (auto d = fleet_.next_deadline(); d && *d <= now) fleet_.tick(now);
      autoscale(now);
      control_due.reset();
      for (auto d : {fleet_.next_deadline(), autoscaler_.next_deadline(fleet_)})
        if (d && *d > now && (!control_due || *d < *control_due)) control_due = d;
      stale = false;
    }
    std::optional<TimePoint> queued = serving_.next_deadline();
    if (queued && *queued <= now) {
      for (const Expiry& e : serving_.expire(now)) {
        auto it = by_serving_.find(e.id);
        if (it != by_serving_.end()) end(it->second, RequestOutcome::kRejected, now);
      }
      queued = serving_.next_deadline();
    }
    horizon_ = opts_.batch_quiet_iterations
                   ? quiet_until(now, next_control, control_due, give_up, queued.has_value())
                   : now;
    while (!wakes_.empty() && wakes_.top().at <= now) {
      const Wake w = wakes_.top();
      wakes_.pop();
      ++events;
      if (replicas_[w.replica].wake == w.wake && replicas_[w.replica].busy)
        complete(w.replica, now);
    }
    horizon_ = now;  // faults, arrivals and dispatches below reach engines now
    while (next_fault_ < in_.scenario.events.size() &&
           measure_from_ + in_.scenario.events[next_fault_].at <= now) {
      inject(in_.scenario.events[next_fault_++], now);
      ++events;
      stale = true;
    }
    while (next_arrival_ < total && start_ + trace_.requests[next_arrival_].arrival <= now) {
      arrive(next_arrival_++, now);
      ++events;
    }
    pump(now);
    if (opts_.progress && next_arrival_ >= reported + total / 100 + 1) {
      reported = next_arrival_;
      opts_.progress(static_cast<double>(next_arrival_) / static_cast<double>(total));
    }
    if (next_arrival_ == total && ended_ == total) break;
    if (now >= give_up) break;

    // The next moment anything happens.
    TimePoint next = std::min(next_control, give_up);
    if (next_arrival_ < total)
      next = std::min(next, start_ + trace_.requests[next_arrival_].arrival);
    if (!wakes_.empty()) next = std::min(next, wakes_.top().at);
    if (next_fault_ < in_.scenario.events.size())
      next = std::min(next, measure_from_ + in_.scenario.events[next_fault_].at);
    if (control_due) next = std::min(next, *control_due);
    if (stale) next = now;  // a fault moved the fleet: let it act at once
    if (auto d = serving_.next_deadline(); d && *d > now) next = std::min(next, *d);
    now = next;
  }
  // What never finished by the tail's end failed; every replica still held stops being counted.
  for (size_t i = 0; i < total; ++i)
    if (!requests_[i].ended) end(i, RequestOutcome::kFailed, now);
  for (size_t r = 0; r < replicas_.size(); ++r) {
    if (replicas_[r].stopped) continue;
    cut_busy(replicas_[r], now);
    replicas_[r].stopped = true;
    recorder_.stopped(replicas_[r].deployment, replicas_[r].gpus, replicas_[r].price_per_gpu_hour,
                      replicas_[r].started, now);
  }
  return recorder_.finish(now, events);
}

}  // namespace

Duration warmup_length(const Trace& trace, const SimOptions& options) {
  if (options.warmup <= Duration::zero() || trace.requests.empty()) return Duration::zero();
  return std::min(options.warmup, trace.requests.back().arrival + options.heartbeat);
}

Result<SimResult> simulate(const SimInput& input, const SimOptions& options) {
  if (input.trace == nullptr) return make_error(ErrorCode::kInvalidArgument, "no trace");
  if (input.deployments.empty())
    return make_error(ErrorCode::kInvalidArgument, "no deployment to serve the trace");
  // Every request's model must be served: say which is not before running anything.
  std::set<std::string, std::less<>> served;
  for (const DeploymentSpec& d : input.deployments)
    served.insert(d.model);
  for (size_t i = 0; i < input.trace->requests.size(); ++i) {
    const std::string& m = input.trace->requests[i].model;
    if (!served.count(m))
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("trace request {} asks for model \"{}\", which no deployment "
                                    "serves (deployments serve: {})",
                                    i + 1, m, fmt::join(served, ", ")));
  }
  // Every scenario event must name what is there.
  for (size_t i = 0; i < input.scenario.events.size(); ++i) {
    const ScenarioEvent& e = input.scenario.events[i];
    const auto bad = [&](const std::string& what) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("scenario event {} ({} at {}): {}", i + 1, to_string(e.kind),
                                    format_duration(e.at), what));
    };
    if (e.kind == FaultKind::kEngineCrash) {
      const bool known =
          std::any_of(input.deployments.begin(), input.deployments.end(),
                      [&](const DeploymentSpec& d) { return d.name == e.deployment; });
      if (!known) return bad(fmt::format("no deployment \"{}\"", e.deployment));
      continue;
    }
    const auto n = std::find_if(input.cluster.nodes.begin(), input.cluster.nodes.end(),
                                [&](const NodeSpec& x) { return x.name == e.node; });
    if (n == input.cluster.nodes.end())
      return bad(fmt::format("no node \"{}\" in the cluster", e.node));
    int gpus = 0;
    for (const GpuGroupSpec& g : n->gpus)
      gpus += g.count;
    if (e.kind == FaultKind::kGpuFault && e.gpu >= gpus)
      return bad(fmt::format("node \"{}\" has {} GPUs (0 to {})", e.node, gpus, gpus - 1));
  }
  // The replay: the trace's opening `warmup` once, unmeasured, then the whole trace after it.
  Trace replay;
  replay.name = input.trace->name;
  const Duration warmup = warmup_length(*input.trace, options);
  const auto& requests = input.trace->requests;
  const size_t first_measured = static_cast<size_t>(
      std::partition_point(requests.begin(), requests.end(),
                           [&](const TraceRequest& r) { return r.arrival < warmup; }) -
      requests.begin());
  replay.requests.reserve(first_measured + requests.size());
  replay.requests.insert(replay.requests.end(), requests.begin(),
                         requests.begin() + static_cast<std::ptrdiff_t>(first_measured));
  for (const TraceRequest& r : requests) {
    replay.requests.push_back(r);
    replay.requests.back().arrival += warmup;
  }
  SimInput run_input = input;
  run_input.trace = &replay;

  // The fleet starts early enough that the replicas present at the start are Ready when the
  // replay begins: a deployment runs before its traffic comes.
  Duration boot = 3 * options.heartbeat;
  for (const DeploymentSpec& d : input.deployments)
    for (const std::string& gpu : d.resources.gpu_models) {
      auto pm = deployment_perf_model(d, gpu);
      if (pm.ok())
        boot = std::max(boot, pm->cold_start(options.load_bytes_per_second, options.engine_init) +
                                  3 * options.heartbeat);
    }
  const TimePoint start = TimePoint(std::chrono::hours(24));
  const TimePoint t0 = start - boot;
  auto fleet = Fleet::create(input.cluster.placement, FleetOptions{}, t0);
  if (!fleet.ok()) return fleet.error();
  auto tenants = TenantDirectory::create(input.tenants);
  if (!tenants.ok()) return tenants.error();
  auto directory = std::make_unique<TenantDirectory>(std::move(*tenants));
  auto serving = Serving::create(*directory, ServingConfig{}, t0);
  if (!serving.ok()) return serving.error();
  Simulation sim(run_input, options, std::move(*fleet), std::move(directory), std::move(*serving),
                 start, start + warmup, first_measured);
  if (auto s = sim.init(t0); !s.ok()) return s.error();
  return sim.run(t0);
}

}  // namespace gf
