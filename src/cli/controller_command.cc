// `gpufleet controller`: the desired state, reconcile loops and the REST API, on an embedded
// SQLite store under --data-dir.
#include <utility>  // before asio (Boost 1.74 + GCC 12)

#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/duration_flag.h"
#include "cli/run_until_signal.h"
#include "common/io/log.h"
#include "common/io/real_clock.h"
#include "controller/controller_server.h"
#include "store/sqlite_store.h"

namespace gf {

namespace {

struct ControllerArgs {
  std::string host = "127.0.0.1";
  uint16_t port = 7070;
  std::string data_dir = ".gpufleet";
  std::string cluster;
  std::string admin_token;
  bool auth_reads = false;
  std::string node_lease = "10s";
  std::string sync = "full";
  double canary_error_margin = 0.05;
  double canary_ttft_margin = 0.25;
  std::string blue_green_retention = "10m";
  std::string drain_timeout = "30s";
  std::string port_file;
};

int run_controller(ControllerArgs a) {
  ControllerOptions o;
  o.host = a.host;
  o.port = a.port;
  o.auth_reads = a.auth_reads;
  o.admin_token = a.admin_token;
  if (o.admin_token.empty()) {
    if (const char* t = std::getenv("GPUFLEET_TOKEN")) o.admin_token = t;
  }
  auto lease = duration_flag("--node-lease", a.node_lease, std::chrono::milliseconds(100));
  auto retention = duration_flag("--blue-green-retention", a.blue_green_retention, Duration(0));
  auto drain = duration_flag("--drain-timeout", a.drain_timeout, Duration(0));
  for (const Error* e : {lease ? nullptr : &lease.error(), retention ? nullptr : &retention.error(),
                         drain ? nullptr : &drain.error()}) {
    if (e == nullptr) continue;
    std::cerr << "error: " << e->message << '\n';
    return 2;
  }
  o.fleet.node_lease = *lease;
  o.fleet.drain_timeout = *drain;
  if (a.canary_error_margin < 0 || a.canary_error_margin > 1 || a.canary_ttft_margin < 0) {
    std::cerr << "error: --canary-error-margin must be in [0, 1] and --canary-ttft-margin >= 0\n";
    return 2;
  }
  o.fleet.canary.error_margin = a.canary_error_margin;
  o.fleet.canary.ttft_margin = a.canary_ttft_margin;
  o.fleet.blue_green_retention = *retention;
  if (!a.cluster.empty()) {
    Manifests m;
    if (!load_all({a.cluster}, m, std::cerr)) return 2;
    if (!m.clusters.empty()) o.placement = m.clusters.front().placement;
    o.tenants = m.tenants;
  }
  std::error_code ec;
  std::filesystem::create_directories(a.data_dir, ec);
  if (ec) {
    std::cerr << "error: --data-dir " << a.data_dir << ": " << ec.message() << '\n';
    return 2;
  }
  SqliteStoreOptions so;
  so.sync = a.sync == "normal" ? SqliteSync::kNormal : SqliteSync::kFull;
  std::string path = (std::filesystem::path(a.data_dir) / "state.db").string();
  auto store = SqliteStore::open(path, so);
  if (!store) {
    std::cerr << "error: " << store.error().message << '\n';
    return 2;
  }
  boost::asio::io_context io(1);
  RealClock clock;
  auto server = ControllerServer::create(io, o, std::move(*store), clock);
  if (!server) {
    std::cerr << "error: " << server.error().message << '\n';
    return 2;
  }
  (*server)->start();
  std::cout << "controller listening on http://" << a.host << ":" << (*server)->port()
            << " store=" << path << std::endl;
  log::info("controller started", {{"port", std::to_string((*server)->port())}, {"store", path}});
  run_until_signal(io, [&] { (*server)->stop(); });
  return 0;
}

}  // namespace

void add_controller_command(CLI::App& app, int& status) {
  auto a = std::make_shared<ControllerArgs>();
  auto* c =
      app.add_subcommand("controller", "Run the controller: desired state, placement, REST API");
  c->add_option("--host", a->host, "Address to listen on")->capture_default_str();
  c->add_option("--port", a->port, "Port (0 = any free port, printed on start)")
      ->capture_default_str();
  c->add_option("--data-dir", a->data_dir, "Where the state store (state.db) lives")
      ->capture_default_str();
  c->add_option("--cluster", a->cluster,
                "Cluster manifest: placement settings and tenants (nodes come from agents)");
  c->add_option(
      "--admin-token", a->admin_token,
      "Token that writes and agents must present (default: $GPUFLEET_TOKEN; none = open)");
  c->add_flag("--auth-reads", a->auth_reads, "Require the token for reads too");
  c->add_option("--node-lease", a->node_lease, "A node without heartbeats this long is Lost")
      ->capture_default_str();
  c->add_option("--canary-error-margin", a->canary_error_margin,
                "Roll a canary back when its error rate exceeds the stable one's by this much")
      ->capture_default_str();
  c->add_option("--canary-ttft-margin", a->canary_ttft_margin,
                "... or its TTFT p95 exceeds the stable one's by this fraction")
      ->capture_default_str();
  c->add_option("--blue-green-retention", a->blue_green_retention,
                "How long the old revision stays (dark) after a blue-green switch")
      ->capture_default_str();
  c->add_option("--drain-timeout", a->drain_timeout,
                "How long a draining replica may finish its requests before it is stopped")
      ->capture_default_str();
  c->add_option("--sync", a->sync, "Store durability: full (fsync each commit) or normal")
      ->check(CLI::IsMember({"full", "normal"}))
      ->capture_default_str();
  c->callback([a, &status] { status = run_controller(*a); });
}

}  // namespace gf
