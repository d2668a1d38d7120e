// `gpufleet agent`: one per GPU node. GPU discovery and telemetry (NVML or fake GPUs from the
// cluster manifest), the health policy, the engine supervisor, the heartbeat to the controller,
// and an HTTP endpoint with /metrics, the GPU and replica lists and fault injection.
#include <utility>  // before asio (Boost 1.74 + GCC 12)

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "agent/async_prober.h"
#include "agent/controller_link.h"
#include "agent/gpu_monitor.h"
#include "agent/heartbeat_cadence.h"
#include "agent/replica_set.h"
#include "cli/commands.h"
#include "cli/duration_flag.h"
#include "common/clock.h"
#include "common/gpu_catalog.h"
#include "common/io/log.h"
#include "common/io/real_clock.h"
#include "gpu/fake_provider.h"
#include "gpu/nvml_provider.h"
#include "net/bearer_token.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "wire/agent_protocol.h"

namespace gf {

namespace asio = boost::asio;

namespace {

struct AgentArgs {
  std::string cluster = "examples/cluster.yaml";
  std::string node;
  bool nvml = false;
  std::string nvml_library = "libnvidia-ml.so.1";
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string interval = "1s";
  std::string log_dir = ".gpufleet/logs";
  std::string self;        // this binary, for engine-sim replicas
  std::string controller;  // http://host:port; empty = run alone (replicas via /v1/replicas)
  std::string token;
  std::string advertise_host = "127.0.0.1";
  std::string state_file;  // default: <log-dir>/agent-<node>.state
  bool keep_replicas = false;
  bool auth_reads = false;
};

// The HTTP side and the sampling timer, all on one io_context thread.
struct Agent {
  asio::io_context& io;
  GpuProvider& provider;
  FakeProvider* fake;  // null with NVML: no fault injection on real GPUs
  GpuMonitor& monitor;
  Registry& registry;
  Duration interval;
  ReplicaSet& replicas;
  RealClock clock;
  std::map<std::string, std::string> reasons;  // last transition reason per GPU
  ControllerLink* link = nullptr;              // null without --controller
  Gauge* connected = nullptr;
  // The token the agent holds for the controller guards its own API too: without it anyone on
  // the network could stop replicas or inject faults (#17, defect 5). Empty: open, as a
  // controller without --admin-token is.
  std::string token;
  bool auth_reads = false;  // reads need the token as well (--auth-reads)

  bool authorized(const net::HttpRequest& req) const {
    const bool write = req.method != "GET" && req.method != "HEAD";
    if (token.empty() || (!write && !auth_reads)) return true;
    return net::has_bearer_secret(req.headers, token);
  }

  // Static stability: whatever happens to the controller, the replicas keep running as they are;
  // the agent keeps heartbeating and reports everything once the controller answers again.
  asio::awaitable<void> heartbeat_loop(net::HostPort controller, std::string token) {
    net::HttpClient client(io, 2);
    asio::steady_timer timer(io);
    Duration every = std::chrono::seconds(1);
    bool was_up = true;
    std::mt19937 rng{std::random_device{}()};
    std::uniform_real_distribution<double> draw(0.0, 1.0);
    for (;;) {
      const TimePoint sent = std::chrono::steady_clock::now();
      net::ClientRequest req;
      req.method = "POST";
      req.target = "/api/v1/agents/heartbeat";
      req.headers["content-type"] = "application/json";
      if (!token.empty()) req.headers["authorization"] = "Bearer " + token;
      req.body = wire::to_json(link->build(monitor, replicas, clock.now()));
      net::CallOptions o;
      o.timeout = std::chrono::seconds(5);
      o.connect_timeout = std::chrono::seconds(1);
      auto res = co_await client.call(controller.host, controller.port, std::move(req), o);
      std::string problem;
      if (!res) {
        problem = res.error().message;
      } else if (res->status != 200) {
        problem = "controller answered " + std::to_string(res->status) + ": " + res->body;
      } else if (auto reply = wire::parse_node_assignment(res->body); !reply) {
        problem = "bad reply: " + reply.error().message;
      } else {
        link->acknowledged();
        every = reply->heartbeat_interval;
        auto applied = link->apply(*reply, replicas, monitor.gpus(), clock.now());
        if (applied) {
          for (const auto& p : *applied)
            log::warn("cannot run an assigned replica", {{"problem", p}});
        }
      }
      connected->set(problem.empty() ? 1 : 0);
      if (!problem.empty() && was_up) {
        log::warn("controller unreachable; replicas keep running", {{"error", problem}});
      } else if (problem.empty() && !was_up) {
        log::info("controller reachable again", {});
      }
      was_up = problem.empty();
      // On the cadence while the controller answers; after a failure a whole interval from now,
      // so that agents whose calls timed out do not all retry at once into a busy controller.
      const TimePoint now = std::chrono::steady_clock::now();
      timer.expires_at(problem.empty() ? next_heartbeat(sent, every, now, draw(rng)) : now + every);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
    }
  }

  asio::awaitable<void> sample_loop() {
    asio::steady_timer timer(io);
    auto next = std::chrono::steady_clock::now();
    for (;;) {
      for (const auto& n : monitor.take_notices())
        log::warn("gpu provider notice", {{"notice", n}});
      auto transitions = monitor.tick(clock.now());
      if (link != nullptr) link->add_events(transitions);
      for (const auto& t : transitions) {
        reasons[t.gpu] = t.reason;
        log::info("gpu health changed", {{"gpu", t.gpu},
                                         {"from", to_string(t.from)},
                                         {"to", to_string(t.to)},
                                         {"reason", t.reason}});
      }
      replicas.tick(clock.now());
      next += interval;  // a fixed schedule: slow rounds do not push later ones back
      timer.expires_at(next);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
    }
  }

  // Replica state per replica (one-hot, like the GPU health gauge) and restarts, refreshed at
  // scrape time from the replica set.
  void export_replica_metrics() {
    auto state =
        registry.gauge("gpufleet_agent_replica_state", "1 for the state each replica is in",
                       {"replica", "model", "state"});
    auto restarts = registry.gauge("gpufleet_agent_replica_restarts",
                                   "Engine restarts of each replica", {"replica", "model"});
    auto ready = registry.gauge("gpufleet_agent_replicas_ready", "Replicas answering readiness");
    if (!state || !restarts || !ready) return;
    int n_ready = 0;
    for (const auto& r : replicas.list()) {
      for (auto s : {ReplicaProcessState::kWaiting, ReplicaProcessState::kStarting,
                     ReplicaProcessState::kReady, ReplicaProcessState::kCrashLoop,
                     ReplicaProcessState::kStopping, ReplicaProcessState::kStopped}) {
        (*state)->with({r.id, r.model, to_string(s)}).set(r.state == s ? 1 : 0);
      }
      (*restarts)->with({r.id, r.model}).set(r.restarts);
      n_ready += r.state == ReplicaProcessState::kReady;
    }
    (*ready)->with({}).set(n_ready);
  }

  // The admin endpoint's way to ask for a replica (an agent without a controller); heartbeat
  // replies carry the same fields.
  Status put_replica(const std::string& id, const std::string& text) {
    auto bad = [](const std::string& m) { return make_error(ErrorCode::kInvalidArgument, m); };
    if (id.empty() || id.find('/') != std::string::npos)
      return bad("replica id must be one path segment");
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) return bad("body must be a JSON object");
    if (!j.contains("model") || !j["model"].is_string())
      return bad("field \"model\" (a string) is required");
    if (!j.contains("gpus") || !j["gpus"].is_array() || j["gpus"].empty()) {
      return bad("field \"gpus\" (a non-empty list of this node's GPU UUIDs) is required");
    }
    DesiredReplica r;
    r.id = id;
    r.deployment.name = id;
    r.deployment.model = j["model"].get<std::string>();
    for (const auto& g : j["gpus"]) {
      if (!g.is_string()) return bad("gpus must be UUID strings");
      auto found = find_device(monitor.gpus(), g.get<std::string>());  // a GPU or a MIG device
      if (!found) return bad("GPU " + g.get<std::string>() + " is not on this node");
      r.gpu_uuids.push_back(found->uuid);
      r.gpu_model = catalogue_gpu_name(found->product, found->memory);
    }
    r.deployment.resources.gpus = static_cast<int>(r.gpu_uuids.size());
    std::string engine = j.value("engine", "engine-sim");
    static const std::map<std::string, EngineType> kEngines = {
        {"vllm", EngineType::kVllm},
        {"sglang", EngineType::kSglang},
        {"trtllm", EngineType::kTrtllm},
        {"llama.cpp", EngineType::kLlamaCpp},
        {"engine-sim", EngineType::kEngineSim}};
    auto e = kEngines.find(engine);
    if (e == kEngines.end())
      return bad("unknown engine \"" + engine + "\" (vllm, sglang, trtllm, llama.cpp, engine-sim)");
    r.deployment.engine.type = e->second;
    if (j.contains("args") && j["args"].is_array()) {
      for (const auto& a : j["args"]) {
        if (a.is_string()) r.deployment.engine.args.push_back(a.get<std::string>());
      }
    }
    r.memory_fraction = j.value("memoryFraction", 0.9);
    return replicas.ensure(r, clock.now());
  }

  asio::awaitable<void> handle(net::HttpRequest& req, net::ResponseWriter& w) {
    int status = 200;
    std::string type = "application/json";
    std::string body;
    if (req.path == "/healthz") {
      body = R"({"status":"ok"})";
    } else if (!authorized(req)) {
      status = 401;
      body =
          nlohmann::json{
              {"error",
               {{"code", "Unauthenticated"},
                {"message",
                 "this call needs \"Authorization: Bearer <token>\" (the token the agent "
                 "was started with: --token or $GPUFLEET_TOKEN)"}}}}
              .dump();
    } else if (req.path == "/metrics" && req.method == "GET") {
      type = "text/plain; version=0.0.4; charset=utf-8";
      export_replica_metrics();
      body = registry.render();
    } else if (req.path == "/v1/gpus" && req.method == "GET") {
      nlohmann::json gpus = nlohmann::json::array();
      for (const auto& g : monitor.gpus()) {
        nlohmann::json j = {{"index", g.index},
                            {"uuid", g.uuid},
                            {"name", catalogue_gpu_name(g.name, g.memory_total_mib())},
                            {"product", g.name},
                            {"memoryMiB", to_mib_floor(g.memory_total).value},
                            {"health", to_string(monitor.health().health(g.uuid))},
                            {"reason", reasons.count(g.uuid) ? reasons[g.uuid] : ""},
                            {"mig", g.mig_enabled}};
        if (g.mig_enabled) {
          nlohmann::json devices = nlohmann::json::array();
          for (const auto& m : g.mig_devices)
            devices.push_back({{"uuid", m.uuid},
                               {"name", catalogue_gpu_name(m.name, m.memory_total_mib())},
                               {"product", m.name},
                               {"memoryMiB", m.memory_total_mib().value},
                               {"gpuInstance", m.gpu_instance_id},
                               {"computeInstance", m.compute_instance_id}});
          j["migDevices"] = std::move(devices);
        }
        gpus.push_back(std::move(j));
      }
      body = nlohmann::json{{"provider", provider.name()}, {"gpus", gpus}}.dump();
    } else if (req.path == "/v1/replicas" && req.method == "GET") {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& r : replicas.list()) {
        list.push_back({{"id", r.id},
                        {"model", r.model},
                        {"state", to_string(r.state)},
                        {"reason", r.reason},
                        {"port", r.port},
                        {"restarts", r.restarts},
                        {"generation", r.generation},
                        {"draining", r.draining}});
      }
      body = nlohmann::json{{"replicas", list}}.dump();
    } else if (req.path.rfind("/v1/replicas/", 0) == 0 &&
               (req.method == "PUT" || req.method == "DELETE")) {
      std::string id = req.path.substr(std::string("/v1/replicas/").size());
      Status s = req.method == "PUT" ? put_replica(id, req.body)
                                     : replicas.remove(id, clock.now(), std::chrono::seconds(10));
      status = s.ok() ? 200 : s.error().code == ErrorCode::kNotFound ? 404 : 400;
      body = s.ok() ? nlohmann::json{{"id", id},
                                     {"status", req.method == "PUT" ? "accepted" : "stopping"}}
                          .dump()
                    : nlohmann::json{{"error", {{"message", s.error().message}}}}.dump();
    } else if (req.path == "/admin/faults" && req.method == "POST") {
      auto cmd = parse_fault_command(req.body);
      Status applied =
          !cmd ? Status(cmd.error())
          : fake == nullptr
              ? Status(
                    make_error(ErrorCode::kFailedPrecondition,
                               "fault injection needs the fake GPU provider (run without --nvml)"))
              : fake->apply(*cmd);
      status = applied.ok() ? 200 : 400;
      body = applied.ok()
                 ? R"({"status":"applied"})"
                 : nlohmann::json{{"error", {{"message", applied.error().message}}}}.dump();
    } else {
      status = 404;
      body = nlohmann::json{{"error", {{"message", "no route for " + req.method + " " + req.path}}}}
                 .dump();
    }
    co_await w.send(status, std::move(type), std::move(body), net::Headers{});
  }
};

int run_agent(const AgentArgs& a) {
  auto interval = duration_flag("--sample-interval", a.interval, std::chrono::milliseconds(10));
  if (!interval) {
    std::cerr << "error: " << interval.error().message << '\n';
    return 2;
  }
  std::unique_ptr<GpuProvider> provider;
  FakeProvider* fake = nullptr;
  std::string hostname = a.node;
  if (a.nvml) {
    NvmlOptions o;
    o.library = a.nvml_library;
    provider = std::make_unique<NvmlProvider>(o);
  } else {
    auto node = load_node_spec(a.cluster, a.node);
    if (!node) {
      std::cerr << "error: " << node.error().message << '\n';
      return 2;
    }
    auto f = FakeProvider::create(*node);
    if (!f) {
      std::cerr << "error: " << f.error().message << '\n';
      return 2;
    }
    fake = f->get();
    provider = std::move(*f);
  }
  Registry registry;
  GpuMonitor monitor(*provider, HealthPolicyConfig{}, registry, hostname);
  if (Status s = monitor.discover(); !s) {
    // An agent without GPUs is still useful to report that fact; say what failed and go on.
    log::error("GPU discovery failed", {{"error", s.error().message}});
  }
  for (const auto& g : monitor.gpus()) {
    // Say it once, at start: an unknown GPU is placed under its own name, so only manifests
    // that name it exactly match it, and engine-sim needs coefficients for it.
    if (g.mig_enabled && g.mig_devices.empty())
      log::warn(
          "GPU is in MIG mode with no MIG devices configured: it takes no work until "
          "some are created (nvidia-smi mig -cgi ... -C)",
          {{"gpu", std::to_string(g.index)}, {"name", g.name}});
    if (find_gpu_hardware(g.name, g.memory_total_mib()) == nullptr)
      log::warn(
          "GPU model not in gpufleet's catalogue: it is placed under its own name; "
          "manifests must name it exactly, and engine-sim needs performance coefficients",
          {{"gpu", std::to_string(g.index)}, {"name", g.name}});
  }
  SupervisorOptions so;
  so.state_file = a.state_file.empty() ? a.log_dir + "/agent-" + a.node + ".state" : a.state_file;
  std::error_code dir_ec;
  std::filesystem::create_directories(std::filesystem::path(so.state_file).parent_path(), dir_ec);
  ProcessSupervisor supervisor(so);
  asio::io_context io(1);
  // Probes run on the io_context; the runners read the last result each round, so a hung engine
  // fails a probe per round without holding the loop (see docs/agent.md).
  AsyncProber prober(io, std::max<Duration>(*interval, std::chrono::seconds(1)));
  auto probe = [&prober](uint16_t port, const std::string& path, uint64_t epoch) {
    return prober.probe(port, path, epoch);
  };
  // The engines' metrics, fetched the same way: every heartbeat carries each Ready replica's
  // load from them (agent/load_summary.h), and a drain waits for them to show no request in
  // flight (agent/engine_drain.h).
  auto scrape = [&prober](uint16_t port, const std::string& path, TimePoint now) {
    return prober.fetch(port, path, now);
  };
  ReplicaSet replicas(supervisor, a.log_dir, a.self, ReplicaRunnerConfig{}, probe, scrape);
  // Engines a crashed or restarted agent left running are taken over, not started twice; the
  // controller's next reply says which to keep (the rest are stopped).
  std::vector<std::string> adopted_ids = supervisor.adopt_from_state();
  RealClock start_clock;
  (void)replicas.adopt(start_clock.now());
  for (const auto& id : adopted_ids)
    log::info("adopted a running replica", {{"replica", id}});
  std::optional<net::HostPort> controller;
  if (!a.controller.empty()) {
    auto hp = net::parse_host_port(a.controller);
    if (!hp) {
      std::cerr << "error: --controller: " << hp.error().message << '\n';
      return 2;
    }
    controller = *hp;
  }
  Agent agent{io, *provider, fake,    monitor, registry, *interval,   replicas,
              {}, {},        nullptr, nullptr, a.token,  a.auth_reads};
  auto up = registry.gauge("gpufleet_agent_controller_connected",
                           "1 when the last heartbeat reached the controller");
  agent.connected = &(*up)->with({});
  net::HttpServer server(io, a.host, a.port, [&agent](net::HttpRequest& r, net::ResponseWriter& w) {
    return agent.handle(r, w);
  });
  server.start();
  asio::co_spawn(io, agent.sample_loop(), asio::detached);
  std::unique_ptr<ControllerLink> link;
  if (controller) {
    ControllerLinkConfig lc;
    lc.node = a.node;
    std::random_device rd;
    lc.agent_id = fmt::format("{:08x}{:08x}", rd(), rd());
    lc.host = a.advertise_host;
    lc.port = server.port();
    link = std::make_unique<ControllerLink>(lc);
    agent.link = link.get();
    asio::co_spawn(io, agent.heartbeat_loop(*controller, a.token), asio::detached);
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    server.stop();
    io.stop();
  });
  std::cout << "agent listening on http://" << a.host << ":" << server.port() << " node=" << a.node
            << " provider=" << provider->name() << " gpus=" << monitor.gpus().size() << std::endl;
  io.run();
  if (a.keep_replicas) {
    // An agent upgrade or restart: the engines keep serving; the next agent adopts them.
    supervisor.detach_all();
    return 0;
  }
  // A graceful stop: SIGTERM every engine, SIGKILL what is still there after the drain time.
  RealClock clock;
  replicas.stop_all(clock.now(), std::chrono::seconds(10));
  TimePoint deadline = clock.now() + std::chrono::seconds(12);
  // Returns as soon as the engines are gone: the exits go to their runners (#17, defect 9: they
  // were swallowed here, so every agent waited its full 12 s).
  while (!replicas.all_stopped() && clock.now() < deadline)
    replicas.tick(clock.now(), std::chrono::milliseconds(100));
  return 0;
}

}  // namespace

void add_agent_command(CLI::App& app, int& status) {
  auto a = std::make_shared<AgentArgs>();
  auto* c = app.add_subcommand("agent",
                               "Run the node agent: GPU discovery, telemetry, health and metrics");
  c->add_option("--cluster", a->cluster, "Cluster manifest (fake GPUs come from the node's entry)")
      ->capture_default_str();
  c->add_option("--node", a->node, "This node's name in the cluster manifest")->required();
  c->add_flag("--nvml", a->nvml, "Use the real GPUs through NVML instead of fake ones");
  c->add_option("--nvml-library", a->nvml_library, "NVML library to dlopen")->capture_default_str();
  c->add_option("--host", a->host, "Address to listen on")->capture_default_str();
  c->add_option("--port", a->port, "Port (0 = any free port, printed on start)")
      ->capture_default_str();
  c->add_option("--sample-interval", a->interval, "Time between telemetry samples")
      ->capture_default_str();
  c->add_option("--log-dir", a->log_dir, "Where replica logs go")->capture_default_str();
  c->add_option("--controller", a->controller,
                "Controller URL (http://host:port); without it the agent runs alone");
  c->add_option("--token", a->token, "Token for the controller (default: $GPUFLEET_TOKEN)");
  c->add_option(
      "--state-file", a->state_file,
      "Where running engines are recorded for adoption (default <log-dir>/agent-<node>.state)");
  c->add_flag("--auth-reads", a->auth_reads,
              "Reads of this agent's API (/v1/gpus, /v1/replicas, /metrics) need the token too; "
              "writes always do when the agent has one");
  c->add_flag("--keep-replicas-on-exit", a->keep_replicas,
              "Leave engines running on exit, for the next agent to adopt (upgrades)");
  c->add_option("--advertise-host", a->advertise_host,
                "Address at which this node's replicas are reached")
      ->capture_default_str();
  c->callback([a, &status] {
    std::error_code ec;
    a->self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) a->self = "gpufleet";
    if (a->token.empty()) {
      if (const char* t = std::getenv("GPUFLEET_TOKEN")) a->token = t;
    }
    status = run_agent(*a);
  });
}

}  // namespace gf
