#include "controller/controller_server.h"

#include "net/bearer_token.h"

#include <fmt/format.h>
#include <unistd.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <list>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <unordered_map>

#include "admission/api_key.h"
#include "autoscale/autoscaler.h"
#include "autoscale/policy_registry.h"
#include "common/io/log.h"
#include "common/io/manifest.h"
#include "common/io/metrics.h"
#include "controller/fleet_persistence.h"
#include "controller/routing_release.h"
#include "controller/store_writer.h"
#include "controller/thread_busy.h"
#include "net/http_server.h"
#include "placement/placement_names.h"
#include "pool/summary.h"
#include "routing/policy_registry.h"
#include "wire/agent_protocol.h"
#include "wire/replica_load_json.h"
#include "wire/routing_table_json.h"
#include "wire/traffic_report_json.h"

namespace gf {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

// Unique to this process: the value of the owner key, so a second controller on the same store is
// told apart (and fences this one off).
std::string make_owner_id() {
  return fmt::format("controller-{}-{:08x}", ::getpid(), std::random_device{}());
}

struct Reply {
  int status = 200;
  std::string body;
};

const char* code_name(ErrorCode c) {
  switch (c) {
    case ErrorCode::kInvalidArgument:
      return "InvalidArgument";
    case ErrorCode::kNotFound:
      return "NotFound";
    case ErrorCode::kAlreadyExists:
      return "AlreadyExists";
    case ErrorCode::kFailedPrecondition:
      return "FailedPrecondition";
    case ErrorCode::kUnschedulable:
      return "Unschedulable";
    case ErrorCode::kInfeasible:
      return "Infeasible";
    case ErrorCode::kUnavailable:
      return "Unavailable";
    default:
      return "Internal";
  }
}

int http_status(ErrorCode c) {
  switch (c) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kFailedPrecondition:
      return 409;
    case ErrorCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

Reply error_reply(int status, const std::string& code, const std::string& message) {
  return Reply{status, json{{"error", {{"code", code}, {"message", message}}}}.dump()};
}
Reply error_reply(const Error& e) {
  return error_reply(http_status(e.code), code_name(e.code), e.message);
}
Reply ok_json(const json& j) {
  return Reply{200, j.dump()};
}

std::string percent_decode(const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      out += static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += in[i] == '+' ? ' ' : in[i];
    }
  }
  return out;
}

std::string query_param(const std::string& target, const std::string& name) {
  size_t q = target.find('?');
  if (q == std::string::npos) return {};
  std::string rest = target.substr(q + 1);
  size_t pos = 0;
  while (pos <= rest.size()) {
    size_t amp = rest.find('&', pos);
    std::string kv = rest.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    size_t eq = kv.find('=');
    if (kv.substr(0, eq) == name)
      return eq == std::string::npos ? "" : percent_decode(kv.substr(eq + 1));
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return {};
}

// A sequence or version number from a query parameter; empty text means 0.
std::optional<uint64_t> parse_after(const std::string& text) {
  if (text.empty()) return 0;
  if (text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoull(text);
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    if (slash > pos) out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

}  // namespace

struct ControllerServer::Impl {
  Impl(asio::io_context& io, ControllerOptions o, std::unique_ptr<StateStore> s, const Clock& c,
       Fleet f)
      : io(io),
        opts(std::move(o)),
        store(std::move(s)),
        clock(c),
        fleet(std::move(f)),
        wall_offset(std::chrono::system_clock::now().time_since_epoch() -
                    clock.now().time_since_epoch()) {}

  asio::io_context& io;
  ControllerOptions opts;
  std::unique_ptr<StateStore> store;
  const Clock& clock;
  Fleet fleet;
  Duration wall_offset;
  std::unique_ptr<net::HttpServer> server;
  FleetChanges unsaved;
  bool stopped = false;
  uint64_t published_version = 0;  // the fleet's latest routing table version
  // The latest version handed to the routing watchers, no more often than their traffic allows
  // (controller/routing_release.h); a watcher waits for a version after the one it holds.
  uint64_t released_version = 0;
  RoutingRelease routing_release;
  std::unique_ptr<asio::steady_timer> release_timer;
  bool release_armed = false;
  uint64_t published_event = 0;
  // Long-polls waiting for a newer routing table, and for newer events: woken apart, so that
  // events (every replica transition) do not wake every gateway for a table that did not move.
  std::list<std::shared_ptr<asio::steady_timer>> routing_watchers;
  std::list<std::shared_ptr<asio::steady_timer>> event_watchers;
  // The routing table as the watch sends it, encoded once per version and audience: a hundred
  // gateways woken by one new version cost one encoding, not a hundred (#18).
  struct EncodedRouting {
    std::optional<uint64_t> plain_version, keyed_version;
    std::string plain, keyed;
  } encoded_routing;
  std::unordered_map<std::string, std::string> api_keys;  // replica id -> its key
  Registry registry;
  HistogramFamily* reconcile_seconds = nullptr;
  HistogramFamily* loop_lag = nullptr;
  CounterFamily* requests = nullptr;
  CounterFamily* store_errors = nullptr;
  CounterFamily* scaling_events = nullptr;
  CounterFamily* autoscaler_decisions = nullptr;
  GaugeFamily* forecast = nullptr;
  HistogramFamily* scale_up_to_ready = nullptr;
  // Every deployment with spec.autoscaling follows its load (src/autoscale): fed by the gateways'
  // reports, run at its deadline by the reconcile loop.
  Autoscaler autoscaler;

  int64_t wall_ms(TimePoint t) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch() + wall_offset)
        .count();
  }

  // ---- durable writes. Changes taken from the fleet are numbered (requested); one batch at a
  // time goes to the writer thread with every change taken so far (group commit), and a reply
  // that promises something waits until a batch holding its changes is durable. A failed batch
  // goes back into `unsaved` whole; the next save() (the reconcile timer's at the latest) writes
  // it again.
  std::optional<WriteFence> fence;
  std::unique_ptr<StoreWriter> writer;
  uint64_t requested = 0;  // changes numbered up to here were taken from the fleet
  uint64_t durable = 0;    // ... and up to here are in the store
  uint64_t failed = 0;     // a batch holding changes up to here failed
  Error last_store_error{ErrorCode::kUnavailable, ""};
  bool writing = false;
  std::list<std::shared_ptr<asio::steady_timer>> durability_waiters;

  // Takes what changed from the fleet, starts writing it, and wakes watchers when the routing
  // table or the events moved.
  void save() {
    FleetChanges c = fleet.take_changes();
    if (!c.empty()) {
      merge(unsaved, c);
      ++requested;
    }
    write_next();
    if (fleet.routing_table().version != published_version) {
      published_version = fleet.routing_table().version;
      release_routing();
    }
    if (fleet.last_event_seq() != published_event) {
      published_event = fleet.last_event_seq();
      wake(event_watchers);
    }
  }

  // Hands the latest routing table to the watchers, now or, when the last release's traffic says
  // so, once its time comes (one timer; versions made meanwhile go out with it).
  void release_routing() {
    if (released_version == published_version || stopped) return;
    const TimePoint now = clock.now();
    if (!routing_release.may_release(now)) {
      if (release_armed) return;
      release_armed = true;
      if (!release_timer) release_timer = std::make_unique<asio::steady_timer>(io);
      release_timer->expires_after(routing_release.next() - now);
      release_timer->async_wait([this](const boost::system::error_code& ec) {
        release_armed = false;
        if (!ec) release_routing();
      });
      return;
    }
    released_version = published_version;
    // The size of the last encoding: this version's is made when the first watcher asks.
    const size_t bytes = std::max(encoded_routing.plain.size(), encoded_routing.keyed.size());
    routing_release.released(now, bytes, routing_watchers.size());
    wake(routing_watchers);
  }

  static void wake(std::list<std::shared_ptr<asio::steady_timer>>& waiting) {
    for (auto& t : waiting)
      t->cancel();
  }

  void write_next() {
    if (writing || unsaved.empty() || stopped) return;
    writing = true;
    FleetChanges batch = std::exchange(unsaved, FleetChanges{});
    const uint64_t upto = requested;
    // Planned before the callback takes the batch: argument order is unspecified.
    std::vector<TxnRequest> txns = plan_writes(fleet, batch, fence);
    writer->submit(std::move(txns), [this, batch = std::move(batch), upto](Status s) mutable {
      writing = false;
      if (s) {
        durable = std::max(durable, upto);
      } else {
        merge(unsaved, batch);
        failed = std::max(failed, upto);
        last_store_error = s.error();
        store_errors->with({}).inc();
        log::error("state store write failed; will retry", {{"error", s.error().message}});
      }
      for (auto& t : durability_waiters)
        t->cancel();
      if (s) write_next();  // after a failure, the next save() tries again
    });
  }

  // Waits until every change taken so far is in the store. An error when a batch holding them
  // failed (the reply must not promise what a restart would forget) or the store takes too long.
  asio::awaitable<Status> wait_durable() {
    const uint64_t mine = requested;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (durable < mine) {
      if (failed >= mine)
        co_return make_error(last_store_error.code,
                             "state store write failed: " + last_store_error.message);
      if (std::chrono::steady_clock::now() >= give_up || stopped)
        co_return make_error(ErrorCode::kUnavailable, "state store write did not finish in 10 s");
      auto timer = std::make_shared<asio::steady_timer>(io);
      timer->expires_at(give_up);
      auto it = durability_waiters.insert(durability_waiters.end(), timer);
      boost::system::error_code ec;
      co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
      durability_waiters.erase(it);
    }
    co_return Status{};
  }

  asio::awaitable<void> reconcile_loop() {
    asio::steady_timer timer(io);
    ThreadBusy busy;
    for (;;) {
      auto t0 = std::chrono::steady_clock::now();
      // This loop runs on the thread that serves every request: its CPU share since the last
      // pass is the controller's load, which the heartbeat interval follows.
      if (auto share = busy.sample()) fleet.observe_busy(*share, clock.now());
      autoscale();
      fleet.tick(clock.now());
      save();
      (void)store->expire_leases();
      reconcile_seconds->with({}).observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      timer.expires_after(opts.reconcile_interval);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (stopped) co_return;
    }
  }

  // How late a timer on the serving thread fires: what any request, a heartbeat included, waits
  // behind before it is read (a long reconcile pass, a large encoding). Sampled every 20 ms.
  asio::awaitable<void> lag_loop() {
    asio::steady_timer timer(io);
    constexpr auto kEvery = std::chrono::milliseconds(20);
    for (;;) {
      const auto due = std::chrono::steady_clock::now() + kEvery;
      timer.expires_at(due);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (stopped) co_return;
      loop_lag->with({}).observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - due).count());
    }
  }

  // Runs the autoscaler when due; what it changes goes through Fleet::scale (events, store).
  void autoscale() {
    const TimePoint now = clock.now();
    auto due = autoscaler.next_deadline(fleet);
    if (!due || *due > now) return;
    for (const ScalingDecision& d : autoscaler.tick(fleet, now)) {
      if (d.forecast) forecast->with({d.deployment}).set(*d.forecast);
      for (Duration t : d.scale_up_to_ready)
        scale_up_to_ready->with({d.deployment}).observe(std::chrono::duration<double>(t).count());
      if (!d.changed()) continue;
      const char* direction = d.to > d.from ? "up" : "down";
      autoscaler_decisions->with({d.deployment, d.policy, direction}).inc();
      scaling_events->with({d.deployment, direction}).inc();
      log::info("autoscaled", {{"deployment", d.deployment},
                               {"from", std::to_string(d.from)},
                               {"to", std::to_string(d.to)},
                               {"rule", d.rule},
                               {"reason", d.reason}});
    }
  }

  bool authorized(const net::HttpRequest& req, bool write) const {
    if (opts.admin_token.empty() || (!write && !opts.auth_reads)) return true;
    return net::has_bearer_secret(req.headers, opts.admin_token);
  }

  // ---- JSON views

  json replica_json(const ReplicaRecord& r) const {
    std::string address;
    if (auto n = fleet.nodes().find(r.node); n != fleet.nodes().end() && r.port != 0)
      address = fmt::format("{}:{}", n->second.host, r.port);
    json j = replica_fields(r);
    j["address"] = address;
    j["sinceMs"] = wall_ms(r.since);
    // The engine's own account from its agent's last heartbeat; absent while unknown.
    if (auto l = fleet.replica_load(r.id, clock.now())) j["load"] = wire::replica_load_json(*l);
    return j;
  }

  json deployment_json(const DeploymentRecord& d) const {
    int ready = 0, ready_all = 0, total = 0;
    for (const auto& [id, r] : fleet.replicas()) {
      if (r.deployment != d.spec.name) continue;
      ++total;
      ready_all += r.state == ReplicaState::kReady;
      ready += r.state == ReplicaState::kReady && r.revision == d.revision;
    }
    json history = json::array();
    for (const auto& h : d.history)
      history.push_back(h.revision);
    std::string why = fleet.why_unavailable(d.spec.name);
    const char* status = !why.empty()              ? "Degraded"
                         : ready_all >= d.replicas ? "Available"
                                                   : "Progressing";
    return json{{"name", d.spec.name},
                {"status", status},
                {"statusReason", why},
                {"model", d.spec.model},
                {"engine", to_string(d.spec.engine.type)},
                {"revision", d.revision},
                {"replicas", d.replicas},
                {"minReplicas", d.spec.replicas.min},
                {"maxReplicas", d.spec.replicas.max},
                {"readyReplicas", ready},  // of the current revision
                {"readyAllRevisions", ready_all},
                {"totalReplicas", total},
                {"gpusPerReplica", d.spec.resources.gpus},
                {"routing", d.spec.routing},
                {"rolloutStrategy", to_string(d.spec.rollout.strategy)},
                {"rollout", fleet.rollout_status(d.spec.name)},
                {"scaling", d.spec.autoscaling ? d.spec.autoscaling->policy : "fixed"},
                {"history", history}};
  }

  // The operator's word on a node: what its GPUs all say (they are set together by node calls).
  std::string node_admin(const NodeRecord& n) const {
    if (!n.pool_index) return to_string(AdminState::kNone);
    const Pool& p = fleet.pool();
    const auto& gpus = p.node(*n.pool_index).gpus;
    if (gpus.empty()) return to_string(AdminState::kNone);
    AdminState a = p.gpu(gpus.front()).admin;
    for (GpuIndex g : gpus) {
      if (p.gpu(g).admin != a) return "Mixed";
    }
    return to_string(a);
  }

  json gpus_json(const std::string& node_filter) const {
    const Pool& p = fleet.pool();
    // GPUs held idle by a deployment's warm reserve (an unbound reservation slot).
    std::map<GpuIndex, std::string> reserved_for;
    for (const auto& [id, a] : p.allocations()) {
      if (!a.is_slot() || a.bound_replica.valid()) continue;
      for (GpuIndex gi : a.gpus)
        reserved_for[gi] = a.request.deployment;
    }
    json out = json::array();
    for (size_t i = 0; i < p.gpu_count(); ++i) {
      const Gpu& g = p.gpu(GpuIndex{static_cast<uint32_t>(i)});
      auto held = reserved_for.find(GpuIndex{static_cast<uint32_t>(i)});
      const std::string& node = p.node(g.node).name;
      if (!node_filter.empty() && node != node_filter) continue;
      out.push_back({{"uuid", g.uuid},
                     {"node", node},
                     {"index", g.local_index},
                     {"model", p.model_name(g.model)},
                     {"state", to_string(g.state())},
                     {"reason", g.state_reason},
                     {"memoryMiB", g.memory_total.value},
                     {"memoryCommittedMiB", g.memory_committed.value},
                     {"shares", g.shares},
                     {"reservedFor", held == reserved_for.end() ? "" : held->second},
                     {"utilizationPct", g.telemetry.utilization_pct},
                     {"temperatureC", g.telemetry.temperature_c},
                     {"powerW", g.telemetry.power_w}});
    }
    return out;
  }

  static json totals_json(const CapacityTotals& t) {
    return json{{"gpus", t.gpus},
                {"allocated", t.allocated},
                {"reserved", t.reserved},
                {"idle", t.idle},
                {"unavailable", t.unavailable},
                {"cordoned", t.cordoned},
                {"memoryMiB", t.memory_total.value},
                {"memoryCommittedMiB", t.memory_committed.value},
                {"fragmentation", t.fragmentation}};
  }

  static json decision_json(const ScalingDecision& d, const std::function<int64_t(TimePoint)>& ms) {
    const LoadSample& l = d.load;
    json load = {{"known", l.known},
                 {"arrivalRps", l.arrival_rps},
                 {"promptTokensPerSecond", l.prompt_tps},
                 {"outputTokensPerSecond", l.output_tps},
                 {"queued", l.queued},
                 {"inFlight", l.in_flight},
                 {"ready", l.ready},
                 {"starting", l.starting}};
    if (l.ttft_p95_ms) load["ttftP95Ms"] = *l.ttft_p95_ms;
    if (l.tpot_p95_ms) load["tpotP95Ms"] = *l.tpot_p95_ms;
    if (l.work) load["work"] = *l.work;  // replicas' worth, with metric work and a perf model
    // The engines' own account, over the Ready replicas that reported it (absent: unknown).
    load["enginesReporting"] = l.engines_reporting;
    if (l.engine_running) load["engineRunning"] = *l.engine_running;
    if (l.engine_waiting) load["engineWaiting"] = *l.engine_waiting;
    if (l.engine_kv_cache_usage) load["engineKvCacheUsage"] = *l.engine_kv_cache_usage;
    if (l.engine_ttft_p95_ms) load["engineTtftP95Ms"] = *l.engine_ttft_p95_ms;
    if (l.engine_queue_p95_ms) load["engineQueueP95Ms"] = *l.engine_queue_p95_ms;
    json j = {{"timeMs", ms(d.at)}, {"policy", d.policy}, {"from", d.from}, {"to", d.to},
              {"rule", d.rule},     {"reason", d.reason}, {"signals", load}};
    if (d.forecast) j["forecast"] = *d.forecast;
    return j;
  }

  json scaling_json(const std::string& name, const DeploymentRecord& d) const {
    json j = {{"deployment", name},
              {"replicas", d.replicas},
              {"min", d.spec.replicas.min},
              {"max", d.spec.replicas.max},
              {"queued", autoscaler.queued(d.spec.model, clock.now())}};
    const DeploymentScaler* s = autoscaler.scaler(name);
    if (!d.spec.autoscaling || s == nullptr) {
      j["policy"] = d.spec.autoscaling ? d.spec.autoscaling->policy : "fixed";
      return j;
    }
    auto ms = [this](TimePoint t) { return wall_ms(t); };
    j["policy"] = s->policy();
    j["metric"] = to_string(s->spec().metric);
    if (s->last()) {
      j["desired"] = s->last()->to;
      j["last"] = decision_json(*s->last(), ms);
    }
    json changes = json::array();
    for (const auto& c : s->changes())
      changes.push_back(decision_json(c, ms));
    j["decisions"] = std::move(changes);
    return j;
  }

  // ---- writes

  Reply apply(const std::string& body, const std::string& content_type) {
    if (body.empty()) return error_reply(400, "InvalidArgument", "empty body: send a manifest");
    std::string file =
        content_type.find("json") != std::string::npos ? "request.json" : "request.yaml";
    ParsedManifests p =
        parse_manifests(body, file, {placement_names(), policy_names(), scaling_policy_names()});
    if (!p.ok()) {
      json diags = json::array();
      for (const auto& d : p.diagnostics)
        diags.push_back(d.format());
      Reply r = error_reply(400, "InvalidArgument", p.diagnostics.front().format());
      json j = json::parse(r.body);
      j["error"]["details"] = diags;
      r.body = j.dump();
      return r;
    }
    if (!p.manifests.clusters.empty()) {
      return error_reply(400, "InvalidArgument",
                         "a Cluster manifest is read when the controller starts (--cluster); "
                         "apply takes Deployment documents");
    }
    if (p.manifests.deployments.empty())
      return error_reply(400, "InvalidArgument", "no Deployment document in the body");
    json applied = json::array();
    for (const auto& d : p.manifests.deployments) {
      Status s = fleet.apply(d, body, clock.now());
      if (!s) return error_reply(s.error());
      applied.push_back(d.name);
    }
    return ok_json({{"applied", applied}, {"ignoredTenants", p.manifests.tenants.size()}});
  }

  Reply deployment_action(const std::vector<std::string>& parts, const net::HttpRequest& req) {
    const std::string& name = parts[3];
    TimePoint now = clock.now();
    Status s;
    if (parts.size() == 4 && req.method == "DELETE") {
      s = fleet.remove_deployment(name, now);
    } else if (parts.size() == 5 && parts[4] == "scale" && req.method == "POST") {
      json j = json::parse(req.body, nullptr, false);
      if (!j.is_object() || !j.contains("replicas") || !j["replicas"].is_number_integer())
        return error_reply(400, "InvalidArgument", "body must be {\"replicas\": <integer>}");
      auto d = fleet.deployments().find(name);
      if (d != fleet.deployments().end() && d->second.spec.autoscaling) {
        // One source of truth: the autoscaler would undo a manual count within a period.
        return error_reply(409, "FailedPrecondition",
                           fmt::format("deployment \"{}\" is autoscaled (policy {}): change its "
                                       "replicas.min/max, or remove spec.autoscaling to set the "
                                       "count by hand",
                                       name, d->second.spec.autoscaling->policy));
      }
      int from = d != fleet.deployments().end() ? d->second.replicas : 0;
      s = fleet.scale(name, j["replicas"].get<int>(), now);
      if (s.ok() && from != j["replicas"].get<int>()) {
        scaling_events->with({name, from < j["replicas"].get<int>() ? "up" : "down"}).inc();
      }
    } else if (parts.size() == 6 && parts[4] == "rollout" && parts[5] == "undo" &&
               req.method == "POST") {
      auto m = fleet.previous_manifest(name);
      if (!m) return error_reply(m.error());
      auto spec = deployment_from_manifest(*m, name);
      if (!spec) return error_reply(spec.error());
      s = fleet.apply(*spec, *m, now);
    } else {
      return error_reply(405, "MethodNotAllowed", "no route for " + req.method + " " + req.path);
    }
    if (!s) return error_reply(s.error());
    auto it = fleet.deployments().find(name);
    return it == fleet.deployments().end() ? ok_json({{"deleted", name}})
                                           : ok_json(deployment_json(it->second));
  }

  Reply node_action(const std::string& node, const std::string& action) {
    AdminState to = AdminState::kNone;
    if (action == "cordon") {
      to = AdminState::kCordoned;
    } else if (action == "drain") {
      to = AdminState::kDraining;
    } else if (action != "uncordon") {
      return error_reply(404, "NotFound",
                         "unknown node action \"" + action + "\" (cordon, uncordon, drain)");
    }
    Status s = fleet.set_node_admin(node, to, clock.now());
    if (!s) return error_reply(s.error());
    return ok_json({{"node", node}, {"admin", to_string(to)}});
  }

  Reply heartbeat(const std::string& body) {
    auto hb = wire::parse_node_report(body);
    if (!hb) return error_reply(hb.error());
    auto reply = fleet.heartbeat(*hb, clock.now());
    if (!reply) return error_reply(reply.error());
    // Each engine demands its replica's key, so that only gateways reach it (#17, defect 6).
    for (auto& r : reply->replicas)
      r.api_key = api_key_of(r.id);
    // The reply promises replicas; handle() sends it only once they are on disk, before the agent
    // starts them.
    return Reply{200, wire::to_json(*reply)};
  }

  // ---- reads

  Reply read(const std::vector<std::string>& parts, const net::HttpRequest& req) {
    const std::string& what = parts[2];
    if (what == "nodes" && (parts.size() == 3 || parts.size() == 4)) {
      json out = json::array();
      PoolSummary sum = summarize(fleet.pool());
      for (const auto& [name, n] : fleet.nodes()) {
        if (parts.size() == 4 && name != parts[3]) continue;
        json x{{"name", name},
               {"state", to_string(n.state)},
               {"address", n.host.empty() ? "" : fmt::format("{}:{}", n.host, n.agent_port)},
               {"lastSeenMs", n.last_seen == TimePoint{} ? 0 : wall_ms(n.last_seen)},
               {"appliedGeneration", n.applied_generation}};
        if (auto s = sum.by_node.find(name); s != sum.by_node.end())
          x["gpus"] = totals_json(s->second);
        out.push_back(std::move(x));
      }
      return ok_json({{"nodes", out}});
    }
    if (what == "gpus" && parts.size() == 3)
      return ok_json({{"gpus", gpus_json(query_param(req.target, "node"))}});
    if (what == "deployments" && parts.size() == 3) {
      json out = json::array();
      for (const auto& [name, d] : fleet.deployments())
        out.push_back(deployment_json(d));
      return ok_json({{"deployments", out}});
    }
    if (what == "deployments" && parts.size() >= 4) {
      auto it = fleet.deployments().find(parts[3]);
      if (it == fleet.deployments().end())
        return error_reply(404, "NotFound", "no deployment named \"" + parts[3] + "\"");
      if (parts.size() == 5 && parts[4] == "rollout") {
        RolloutProgress p = fleet.rollout_progress(parts[3]);
        return ok_json({{"deployment", parts[3]},
                        {"revision", it->second.revision},
                        {"target", p.target},
                        {"readyCurrent", p.ready_current},
                        {"current", p.current},
                        {"old", p.old},
                        {"complete", p.complete()},
                        {"status", fleet.rollout_status(parts[3])}});
      }
      if (parts.size() == 5 && parts[4] == "manifest")
        return Reply{200, json{{"manifest", it->second.manifest}}.dump()};
      if (parts.size() == 4) return ok_json(deployment_json(it->second));
      return error_reply(404, "NotFound", "no route for GET " + req.path);
    }
    if (what == "replicas" && parts.size() == 3) {
      std::string dep = query_param(req.target, "deployment");
      json out = json::array();
      for (const auto& [id, r] : fleet.replicas()) {
        if (dep.empty() || r.deployment == dep) out.push_back(replica_json(r));
      }
      return ok_json({{"replicas", out}});
    }
    if (what == "events" && parts.size() == 3) {
      std::string subject = query_param(req.target, "subject");
      // As the watch and /routing do: a cursor that is not a number is an error, not "from 0".
      auto after = parse_after(query_param(req.target, "after"));
      if (!after)
        return error_reply(400, "InvalidArgument", "after must be an event sequence number");
      json out = json::array();
      for (const auto& e : fleet.events()) {
        if (!subject.empty() && e.subject != subject) continue;
        if (e.seq <= *after) continue;
        out.push_back({{"seq", e.seq},
                       {"timeMs", wall_ms(e.time)},
                       {"kind", e.kind},
                       {"subject", e.subject},
                       {"from", e.from},
                       {"to", e.to},
                       {"reason", e.reason}});
      }
      return ok_json({{"events", out}, {"last", fleet.last_event_seq()}});
    }
    if (what == "summary" && parts.size() == 3) {
      PoolSummary s = summarize(fleet.pool());
      json nodes = json::object(), models = json::object();
      for (const auto& [k, v] : s.by_node)
        nodes[k] = totals_json(v);
      for (const auto& [k, v] : s.by_model)
        models[k] = totals_json(v);
      double util = 0;
      size_t n = fleet.pool().gpu_count();
      for (size_t i = 0; i < n; ++i)
        util += fleet.pool().gpu(GpuIndex{static_cast<uint32_t>(i)}).telemetry.utilization_pct;
      return ok_json({{"total", totals_json(s.total)},
                      {"utilizationPct", n ? util / static_cast<double>(n) : 0.0},
                      {"byNode", nodes},
                      {"byModel", models}});
    }
    if (what == "tenants" && parts.size() == 3) {
      json out = json::array();
      for (const auto& t : opts.tenants) {
        out.push_back({{"name", t.name},
                       {"weight", t.weight},
                       {"priority", t.priority},
                       {"models", t.models},
                       {"apiKeys", t.api_key_hashes.size()}});
      }
      return ok_json({{"tenants", out}});
    }
    if (what == "scaling" && parts.size() == 3) {
      json out = json::array();
      for (const auto& [name, d] : fleet.deployments())
        out.push_back(scaling_json(name, d));
      return ok_json({{"scaling", out}});
    }
    return error_reply(404, "NotFound", "no route for GET " + req.path);
  }

  std::string render_metrics() {
    auto gpus = registry.gauge("gpufleet_gpus", "GPUs by state and model", {"state", "model"});
    auto reps = registry.gauge("gpufleet_replicas", "Replicas by deployment and state",
                               {"deployment", "state"});
    auto nodes = registry.gauge("gpufleet_nodes", "Nodes by state", {"state"});
    auto alloc = registry.gauge("gpufleet_gpus_allocated", "GPUs holding an allocation", {});
    auto rollout =
        registry.gauge("gpufleet_rollout_in_progress",
                       "1 while a deployment runs replicas of an older revision", {"deployment"});
    auto desired = registry.gauge("gpufleet_deployment_replicas_desired",
                                  "Target replica count per deployment", {"deployment"});
    const Pool& p = fleet.pool();
    std::map<std::pair<std::string, std::string>, int> by;
    for (size_t i = 0; i < p.gpu_count(); ++i) {
      const Gpu& g = p.gpu(GpuIndex{static_cast<uint32_t>(i)});
      for (GpuState s :
           {GpuState::kHealthy, GpuState::kSuspect, GpuState::kReserved, GpuState::kFaulty,
            GpuState::kProbation, GpuState::kCordoned, GpuState::kDraining, GpuState::kLost})
        by.try_emplace({to_string(s), p.model_name(g.model)}, 0);
      ++by[{to_string(g.state()), p.model_name(g.model)}];
    }
    for (const auto& [k, v] : by)
      (*gpus)->with({k.first, k.second}).set(v);
    std::map<std::pair<std::string, std::string>, int> rs;
    std::map<std::string, int> old;
    for (const auto& [name, d] : fleet.deployments()) {
      for (ReplicaState s :
           {ReplicaState::kPending, ReplicaState::kPlaced, ReplicaState::kStarting,
            ReplicaState::kReady, ReplicaState::kDraining, ReplicaState::kCrashLoop})
        rs[{name, to_string(s)}] = 0;
      old[name] = 0;
      (*desired)->with({name}).set(d.replicas);
    }
    for (const auto& [id, r] : fleet.replicas()) {
      ++rs[{r.deployment, to_string(r.state)}];
      auto d = fleet.deployments().find(r.deployment);
      if (d != fleet.deployments().end() && r.revision != d->second.revision) old[r.deployment] = 1;
    }
    for (const auto& [k, v] : rs)
      (*reps)->with({k.first, k.second}).set(v);
    for (const auto& [k, v] : old)
      (*rollout)->with({k}).set(v);
    std::map<std::string, int> ns{{"Unknown", 0}, {"Ready", 0}, {"Lost", 0}};
    for (const auto& [name, n] : fleet.nodes())
      ++ns[to_string(n.state)];
    for (const auto& [k, v] : ns)
      (*nodes)->with({k}).set(v);
    (*alloc)->with({}).set(summarize(p).total.allocated);
    auto interval = registry.gauge("gpufleet_heartbeat_interval_seconds",
                                   "The heartbeat interval handed to agents now", {});
    auto busy = registry.gauge("gpufleet_controller_busy_ratio",
                               "Smoothed CPU share of the controller's serving thread", {});
    (*interval)->with({}).set(std::chrono::duration<double>(fleet.heartbeat_interval()).count());
    (*busy)->with({}).set(fleet.busy());
    return registry.render();
  }

  // Long-poll for events: GET /api/v1/events?after=SEQ&wait=1 answers once there are newer
  // events, or after the watch limit with none.
  asio::awaitable<void> watch_events(net::HttpRequest& req, net::ResponseWriter& w) {
    auto after = parse_after(query_param(req.target, "after"));
    if (!after) {
      Reply r = error_reply(400, "InvalidArgument", "after must be an event sequence number");
      co_await w.send(r.status, "application/json", r.body);
      co_return;
    }
    if (fleet.last_event_seq() <= *after) {
      auto timer = std::make_shared<asio::steady_timer>(io);
      timer->expires_after(opts.max_watch_wait);
      auto it = event_watchers.insert(event_watchers.end(), timer);
      boost::system::error_code ec;
      co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
      event_watchers.erase(it);
    }
    Reply r = read(split_path(req.path), req);
    co_await w.send(r.status, "application/json", std::move(r.body));
  }

  asio::awaitable<void> watch_routing(net::HttpRequest& req, net::ResponseWriter& w) {
    const std::string a = query_param(req.target, "after");
    const std::optional<uint64_t> parsed = parse_after(a);
    if (!parsed) {
      Reply r = error_reply(400, "InvalidArgument", "after must be a version number");
      co_await w.send(r.status, "application/json", r.body);
      co_return;
    }
    const uint64_t after = *parsed;
    if (!a.empty() && released_version <= after) {
      auto timer = std::make_shared<asio::steady_timer>(io);
      timer->expires_after(opts.max_watch_wait);
      auto it = routing_watchers.insert(routing_watchers.end(), timer);
      boost::system::error_code ec;
      co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
      routing_watchers.erase(it);
    }
    // The replicas' keys go only to a reader with the admin token (a gateway); anyone else sees
    // the table without them, and an engine's address alone gets a 401 (#17, defect 6).
    const bool keyed =
        !opts.admin_token.empty() && net::has_bearer_secret(req.headers, opts.admin_token);
    co_await w.send(200, "application/json", routing_body(keyed));
  }

  // A replica's key never changes (an HMAC of its id under the admin token): computed once, not
  // once per table version for every replica (40,000 HMACs per version at fleet scale). Forgotten
  // wholesale when it holds twice the replicas the fleet has, so gone replicas do not pile up.
  const std::string& api_key_of(const std::string& replica) {
    if (api_keys.size() > 2 * fleet.replicas().size() + 1024) api_keys.clear();
    auto [it, added] = api_keys.try_emplace(replica);
    if (added) it->second = replica_api_key(opts.admin_token, replica);
    return it->second;
  }

  const std::string& routing_body(bool keyed) {
    EncodedRouting& e = encoded_routing;
    const RoutingTable& table = fleet.routing_table();
    if (!keyed) {
      if (e.plain_version != table.version) {
        e.plain = wire::to_json(table);
        e.plain_version = table.version;
      }
      return e.plain;
    }
    if (e.keyed_version != table.version) {
      RoutingTable t = table;
      for (auto& m : t.models)
        for (auto& rev : m.revisions)
          for (auto& r : rev.replicas)
            r.api_key = api_key_of(r.id);
      e.keyed = wire::to_json(t);
      e.keyed_version = table.version;
    }
    return e.keyed;
  }

  asio::awaitable<void> handle(net::HttpRequest& req, net::ResponseWriter& w) {
    requests->with({req.method}).inc();
    Reply r;
    auto parts = split_path(req.path);
    const bool write = req.method != "GET" && req.method != "HEAD";
    if (req.path == "/healthz") {
      r = ok_json({{"status", "ok"}});
    } else if (req.path == "/metrics" && req.method == "GET") {
      co_await w.send(200, "text/plain; version=0.0.4; charset=utf-8", render_metrics());
      co_return;
    } else if (parts.size() >= 3 && parts[0] == "api" && parts[1] == "v1") {
      if (!authorized(req, write)) {
        r = error_reply(401, "Unauthenticated",
                        "this call needs \"Authorization: Bearer <admin token>\" (the token the "
                        "controller was started with: --admin-token or $GPUFLEET_TOKEN)");
      } else if (parts[2] == "routing" && parts.size() == 3 && req.method == "GET") {
        co_await watch_routing(req, w);
        co_return;
      } else if (parts[2] == "events" && parts.size() == 3 && req.method == "GET" &&
                 query_param(req.target, "wait") == "1") {
        co_await watch_events(req, w);
        co_return;
      } else if (parts[2] == "agents" && parts.size() == 4 && parts[3] == "heartbeat" &&
                 req.method == "POST") {
        r = heartbeat(req.body);
      } else if (parts[2] == "gateways" && parts.size() == 4 && parts[3] == "report" &&
                 req.method == "POST") {
        auto report = wire::parse_traffic_report(req.body);
        if (!report) {
          r = error_reply(report.error());
        } else {
          fleet.record_traffic(*report, clock.now());
          autoscaler.record(*report, clock.now());
          autoscale();  // a model at zero with requests waiting gets its replica now
          save();
          r = ok_json({{"accepted", report->revisions.size()}});
        }
      } else if (parts[2] == "apply" && parts.size() == 3 && req.method == "POST") {
        r = apply(req.body, req.header("content-type"));
      } else if (parts[2] == "deployments" && parts.size() >= 4 && write) {
        r = deployment_action(parts, req);
      } else if (parts[2] == "nodes" && parts.size() == 5 && req.method == "POST") {
        r = node_action(parts[3], parts[4]);
      } else if (req.method == "GET") {
        r = read(parts, req);
      } else {
        r = error_reply(405, "MethodNotAllowed", "no route for " + req.method + " " + req.path);
      }
    } else {
      r = error_reply(
          404, "NotFound",
          "no route for " + req.method + " " + req.path + " (the API lives under /api/v1/)");
    }
    if (write) {
      save();
      // Whatever the reply promises must survive a restart: wait until the store has it.
      if (r.status < 300) {
        if (Status s = co_await wait_durable(); !s) r = error_reply(s.error());
      }
    }
    co_await w.send(r.status, "application/json", std::move(r.body));
  }
};

Result<std::unique_ptr<ControllerServer>> ControllerServer::create(
    asio::io_context& io, ControllerOptions options, std::unique_ptr<StateStore> store,
    const Clock& clock) {
  auto fleet = Fleet::create(options.placement, options.fleet, clock.now());
  if (!fleet) return fleet.error();
  std::vector<std::string> problems;
  if (Status s = restore_fleet(*store, *fleet, clock.now(), problems); !s) {
    return make_error(s.error().code, "reading the state store: " + s.error().message);
  }
  for (const auto& p : problems)
    log::error("skipped a stored record", {{"problem", p}});
  auto impl =
      std::make_unique<Impl>(io, std::move(options), std::move(store), clock, std::move(*fleet));
  auto fence = claim_store(*impl->store, make_owner_id());
  if (!fence)
    return make_error(fence.error().code, "claiming the state store: " + fence.error().message);
  impl->fence = *fence;
  impl->writer = std::make_unique<StoreWriter>(
      *impl->store, [&io](std::function<void()> f) { asio::post(io, std::move(f)); });
  auto rs = impl->registry.histogram("gpufleet_reconcile_seconds",
                                     "Time of one reconcile pass (placement included)", {},
                                     {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5});
  auto lag = impl->registry.histogram(
      "gpufleet_controller_loop_lag_seconds",
      "How late a timer on the controller's serving thread fires: what a request waits behind", {},
      {0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1});
  auto rq = impl->registry.counter("gpufleet_controller_requests_total", "API requests by method",
                                   {"method"});
  auto se = impl->registry.counter("gpufleet_store_errors_total", "State store writes that failed");
  auto sc = impl->registry.counter("gpufleet_scaling_events_total",
                                   "Changes of a deployment's target replica count",
                                   {"deployment", "direction"});
  auto ad = impl->registry.counter("gpufleet_autoscaler_decisions_total",
                                   "Autoscaler decisions that changed a replica count",
                                   {"deployment", "policy", "direction"});
  auto fc =
      impl->registry.gauge("gpufleet_autoscaler_forecast",
                           "The load a predictive or slo policy provisioned for", {"deployment"});
  auto su = impl->registry.histogram(
      "gpufleet_autoscaler_scale_up_to_ready_seconds",
      "From an autoscaler's scale-up decision to the replica it asked for being Ready",
      {"deployment"}, {1, 2, 5, 10, 20, 30, 60, 120, 300, 600});
  if (!rs || !lag || !rq || !se || !sc || !ad || !fc || !su)
    return make_error(ErrorCode::kInternal, "metric registration failed");
  impl->autoscaler_decisions = *ad;
  impl->forecast = *fc;
  impl->scale_up_to_ready = *su;
  impl->scaling_events = *sc;
  impl->reconcile_seconds = *rs;
  impl->loop_lag = *lag;
  impl->requests = *rq;
  impl->store_errors = *se;
  Impl* raw = impl.get();
  impl->server = std::make_unique<net::HttpServer>(
      io, impl->opts.host, impl->opts.port,
      [raw](net::HttpRequest& r, net::ResponseWriter& w) { return raw->handle(r, w); });
  return std::unique_ptr<ControllerServer>(new ControllerServer(std::move(impl)));
}

ControllerServer::ControllerServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ControllerServer::~ControllerServer() = default;

uint16_t ControllerServer::port() const {
  return impl_->server->port();
}

void ControllerServer::start() {
  impl_->server->start();
  asio::co_spawn(impl_->io, impl_->reconcile_loop(), asio::detached);
  asio::co_spawn(impl_->io, impl_->lag_loop(), asio::detached);
}

void ControllerServer::stop() {
  impl_->stopped = true;
  impl_->server->stop();
  if (impl_->release_timer) impl_->release_timer->cancel();
  Impl::wake(impl_->routing_watchers);
  Impl::wake(impl_->event_watchers);
  for (auto& t : impl_->durability_waiters)
    t->cancel();
  // The writer finishes the batch in flight; what was never sent is written here, at once.
  impl_->writer.reset();
  FleetChanges c = impl_->fleet.take_changes();
  merge(impl_->unsaved, c);
  if (Status s = persist_changes(*impl_->store, impl_->fleet, impl_->unsaved, impl_->fence); !s)
    log::error("state store write at shutdown failed", {{"error", s.error().message}});
}

}  // namespace gf
