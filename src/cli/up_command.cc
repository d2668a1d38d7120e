// `gpufleet up`: the whole system on one machine in one command — a controller on an embedded
// store under --data-dir, one agent per node of the cluster manifest with fake GPUs, a gateway,
// and the example models on engine-sim replicas. It supervises them: a child that dies is started
// again with backoff while the rest keep serving. Ctrl-C stops everything, leaving no process.
#include <fmt/format.h>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "agent/process_supervisor.h"
#include "agent/replica_set.h"
#include "agent/restart_policy.h"
#include "autoscale/policy_registry.h"
#include "cli/commands.h"
#include "cli/duration_flag.h"
#include "common/clock.h"
#include "common/io/real_clock.h"
#include "net/http_client.h"
#include "placement/placement_names.h"
#include "routing/policy_registry.h"
#include "wire/routing_table_json.h"

namespace gf {

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) {
  g_stop = true;
}

struct UpArgs {
  std::string cluster = "examples/cluster.yaml";
  std::string models = "examples/up.yaml";
  std::string data_dir = ".gpufleet";
  uint16_t port = 8080;
  uint16_t controller_port = 7070;
  std::string ready_timeout = "120s";
  std::string self;
};

std::string random_token() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
}

// Waits until `check` holds, the deadline passes, a child exits, or Ctrl-C.
template <class F>
bool wait_until(ProcessSupervisor& sup, const RealClock& clock, Duration timeout, F&& check,
                std::string& failure) {
  TimePoint deadline = clock.now() + timeout;
  while (clock.now() < deadline && !g_stop) {
    if (check()) return true;
    for (const auto& e : sup.poll(clock.now(), std::chrono::milliseconds(200))) {
      failure = fmt::format("{} exited (code {}); see its log", e.replica, e.exit_code);
      return false;
    }
  }
  if (failure.empty()) failure = g_stop ? "interrupted" : "timed out";
  return false;
}

bool healthy(uint16_t port) {
  auto r = net::http_call("127.0.0.1", port, net::ClientRequest{"GET", "/healthz", "", {}},
                          std::chrono::seconds(1));
  return r && r->status == 200;
}

int run_up(const UpArgs& a) {
  const ExtensionNames kNames{placement_names(), policy_names(), scaling_policy_names()};
  ParsedManifests cluster = load_manifest_file(a.cluster, kNames);
  if (!cluster.ok() || cluster.manifests.clusters.empty()) {
    for (const auto& d : cluster.diagnostics)
      std::cerr << d.format() << '\n';
    if (cluster.ok()) std::cerr << "error: " << a.cluster << ": no Cluster document\n";
    return 2;
  }
  std::ifstream mf(a.models);
  if (!mf) {
    std::cerr << "error: cannot read " << a.models << '\n';
    return 2;
  }
  std::stringstream models_text;
  models_text << mf.rdbuf();
  ParsedManifests models = parse_manifests(models_text.str(), a.models, kNames);
  if (!models.ok()) {
    for (const auto& d : models.diagnostics)
      std::cerr << d.format() << '\n';
    return 2;
  }
  auto ready_timeout = duration_flag("--ready-timeout", a.ready_timeout, std::chrono::seconds(1));
  if (!ready_timeout) {
    std::cerr << "error: " << ready_timeout.error().message << '\n';
    return 2;
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(fs::path(a.data_dir) / "logs" / "replicas", ec);
  if (ec) {
    std::cerr << "error: --data-dir " << a.data_dir << ": " << ec.message() << '\n';
    return 2;
  }
  std::string logs = (fs::path(a.data_dir) / "logs").string();

  std::set<uint16_t> taken;
  auto choose = [&](uint16_t wanted) -> Result<uint16_t> {
    if (wanted != 0) {
      taken.insert(wanted);
      return wanted;
    }
    auto p = pick_free_port(taken);
    if (p) taken.insert(*p);
    return p;
  };
  auto cport = choose(a.controller_port);
  auto gport = choose(a.port);
  if (!cport || !gport) {
    std::cerr << "error: no free port\n";
    return 1;
  }
  std::string token;
  if (const char* t = std::getenv("GPUFLEET_TOKEN")) token = t;
  if (token.empty()) token = random_token();
  std::string controller = fmt::format("http://127.0.0.1:{}", *cport);

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  RealClock clock;
  ProcessSupervisor sup(SupervisorOptions{});
  // Each child's command line and restart backoff: `up` supervises, so one child's death leaves
  // the others serving and that child is started again (#17, defect 3: any exit stopped all).
  struct Child {
    std::vector<std::string> argv;
    RestartPolicy policy;
    std::optional<TimePoint> restart_at;
  };
  std::map<std::string, Child> children;
  auto start = [&](const std::string& name, std::vector<std::string> argv) -> bool {
    ProcessSpec spec;
    spec.argv = argv;
    spec.env["GPUFLEET_TOKEN"] = token;
    auto pid = sup.start(name, spec, 0, logs + "/" + name + ".log");
    if (!pid) std::cerr << "error: starting " << name << ": " << pid.error().message << '\n';
    Child& c = children[name];
    c.argv = std::move(argv);
    c.policy.started(clock.now());
    return pid.ok();
  };
  // The engines an agent runs are recorded in its state file, so a restarted agent adopts them
  // and `up` can stop them even when their agent is gone.
  auto state_file = [&](const std::string& node) {
    return logs + "/replicas/agent-" + node + ".state";
  };
  std::string failure;
  // Stops these children together and returns as soon as they are gone (SIGKILL after `drain`).
  auto stop_all = [&](const std::vector<std::string>& names, Duration drain) {
    for (const auto& n : names)
      (void)sup.stop(n, drain, clock.now());
    const TimePoint deadline = clock.now() + drain + std::chrono::seconds(5);
    auto running = [&] {
      for (const auto& n : names)
        if (sup.processes().count(n) != 0) return true;
      return false;
    };
    while (running() && clock.now() < deadline)
      (void)sup.poll(clock.now(), std::chrono::milliseconds(100));
  };
  auto shutdown = [&](int code) {
    std::cout << "stopping..." << std::endl;
    // The controller first, so that it starts no replacement engine on agents about to stop;
    // then every agent and the gateway at once (#17, defect 9: one after another took 36 s).
    stop_all({"controller"}, std::chrono::seconds(10));
    std::vector<std::string> rest;
    for (const auto& [name, c] : children)
      if (name != "controller") rest.push_back(name);
    stop_all(rest, std::chrono::seconds(15));
    // Engines whose agent died and was not back yet: stopped from its state file, so nothing is
    // left behind.
    for (const auto& n : cluster.manifests.clusters.front().nodes) {
      if (!std::filesystem::exists(state_file(n.name))) continue;
      ProcessSupervisor orphans(SupervisorOptions{state_file(n.name)});
      std::vector<std::string> ids = orphans.adopt_from_state();
      for (const auto& id : ids)
        (void)orphans.stop(id, std::chrono::seconds(5), clock.now());
      const TimePoint deadline = clock.now() + std::chrono::seconds(8);
      while (!orphans.processes().empty() && clock.now() < deadline)
        (void)orphans.poll(clock.now(), std::chrono::milliseconds(100));
    }
    std::cout << "stopped" << std::endl;
    return code;
  };
  auto fail = [&](const std::string& what) {
    std::cerr << "error: " << what << " (logs in " << logs << ")\n";
    return shutdown(1);
  };

  if (!start("controller",
             {a.self, "controller", "--port", std::to_string(*cport), "--data-dir", a.data_dir,
              "--cluster", a.cluster, "--sync", "normal", "--node-lease", "5s"}))
    return shutdown(1);
  if (!wait_until(
          sup, clock, std::chrono::seconds(30), [&] { return healthy(*cport); }, failure))
    return fail("controller did not start: " + failure);

  for (const auto& n : cluster.manifests.clusters.front().nodes) {
    std::string name = "agent-" + n.name;
    if (!start(name, {a.self, "agent", "--cluster", a.cluster, "--node", n.name, "--port", "0",
                      "--controller", controller, "--log-dir", logs + "/replicas", "--state-file",
                      state_file(n.name)}))
      return shutdown(1);
  }
  if (!start("gateway", {a.self, "gateway", "--port", std::to_string(*gport), "--controller",
                         controller, "--cluster", a.cluster}))
    return shutdown(1);
  if (!wait_until(
          sup, clock, std::chrono::seconds(30), [&] { return healthy(*gport); }, failure))
    return fail("gateway did not start: " + failure);

  net::ClientRequest apply{
      "POST",
      "/api/v1/apply",
      models_text.str(),
      {{"authorization", "Bearer " + token}, {"content-type", "application/yaml"}}};
  auto applied = net::http_call("127.0.0.1", *cport, apply, std::chrono::seconds(10));
  if (!applied || applied->status != 200) {
    return fail("applying " + a.models + ": " +
                (applied ? applied->body : applied.error().message));
  }
  std::cout << "waiting for replicas of " << models.manifests.deployments.size()
            << " models to be ready..." << std::endl;
  auto all_ready = [&] {
    auto r =
        net::http_call("127.0.0.1", *cport, net::ClientRequest{"GET", "/api/v1/routing", "", {}},
                       std::chrono::seconds(2));
    if (!r || r->status != 200) return false;
    auto t = wire::parse_routing_table(r->body);
    if (!t) return false;
    for (const auto& d : models.manifests.deployments) {
      bool ok = false;
      for (const auto& m : t->models) {
        for (const auto& rev : m.revisions)
          ok = ok || (m.model == d.model && !rev.replicas.empty());
      }
      if (!ok) return false;
    }
    return true;
  };
  if (!wait_until(sup, clock, *ready_timeout, all_ready, failure))
    return fail("replicas did not become ready: " + failure);

  const std::string model = models.manifests.deployments.front().model;
  std::cout << "\ngpufleet is up.\n"
            << "  gateway (OpenAI API): http://127.0.0.1:" << *gport << "/v1\n"
            << "  controller API:       " << controller << "/api/v1  (try: gpufleet get replicas)\n"
            << "  metrics:              " << controller << "/metrics, http://127.0.0.1:" << *gport
            << "/metrics\n"
            << "  admin token:          " << token << "  (export GPUFLEET_TOKEN=" << token << ")\n"
            << "  logs:                 " << logs << "\n\n"
            << "  curl http://127.0.0.1:" << *gport << "/v1/chat/completions \\\n"
            << "    -H 'Authorization: Bearer team-a-key' -H 'Content-Type: application/json' \\\n"
            << "    -d '{\"model\": \"" << model
            << "\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}], "
               "\"max_tokens\": 16}'\n\n"
            << "  The deployments autoscale: send load and watch replicas follow it with\n"
            << "    gpufleet describe deployment " << models.manifests.deployments.front().name
            << " --controller " << controller << "\n\n"
            << "Ctrl-C stops everything." << std::endl;
  std::mt19937 rng(std::random_device{}());
  while (!g_stop) {
    for (const auto& e : sup.poll(clock.now(), std::chrono::milliseconds(500))) {
      Child& c = children.at(e.replica);
      const Duration wait =
          c.policy.exited(clock.now(), std::uniform_real_distribution<double>(0, 1)(rng));
      c.restart_at = clock.now() + wait;
      const std::string how = e.signal != 0 ? fmt::format("killed by signal {}", e.signal)
                                            : fmt::format("exited with code {}", e.exit_code);
      std::cerr << "warning: " << e.replica << " " << how << "; restarting it in "
                << format_duration(wait) << (c.policy.crash_looping() ? " (crash-looping)" : "")
                << ", the rest keep serving (log: " << logs << "/" << e.replica << ".log)"
                << std::endl;
    }
    for (auto& [name, c] : children) {
      if (!c.restart_at || clock.now() < *c.restart_at || g_stop) continue;
      c.restart_at.reset();
      if (start(name, c.argv)) {
        std::cerr << "restarted " << name << std::endl;
      } else {
        c.restart_at = clock.now() + c.policy.exited(clock.now(), 0.5);
      }
    }
    // With every child down, poll() has nothing to wait on: wait here instead of spinning.
    if (sup.processes().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return shutdown(0);
}

}  // namespace

void add_up_command(CLI::App& app, int& status) {
  auto a = std::make_shared<UpArgs>();
  auto* c = app.add_subcommand(
      "up", "Run controller, gateway and one agent per node (fake GPUs, engine-sim replicas)");
  c->add_option("--cluster", a->cluster, "Cluster manifest: nodes, placement, tenants")
      ->capture_default_str();
  c->add_option("--models", a->models, "Deployments to apply once the fleet is up")
      ->capture_default_str();
  c->add_option("--data-dir", a->data_dir, "State store and logs")->capture_default_str();
  c->add_option("--port", a->port, "Gateway port (0 = any free port)")->capture_default_str();
  c->add_option("--controller-port", a->controller_port, "Controller port (0 = any free port)")
      ->capture_default_str();
  c->add_option("--ready-timeout", a->ready_timeout, "How long to wait for the first replicas")
      ->capture_default_str();
  c->callback([a, &status] {
    std::error_code ec;
    a->self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) a->self = "gpufleet";
    status = run_up(*a);
  });
}

}  // namespace gf
