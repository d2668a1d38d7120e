// `gpufleet gateway`: the OpenAI-compatible data plane. Follows the controller's routing table,
// or serves fixed upstreams given with --upstream (benchmarks, a controller-less setup).
#include <utility>  // before asio (Boost 1.74 + GCC 12)

#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "cli/duration_flag.h"
#include "cli/run_until_signal.h"
#include "common/io/log.h"
#include "common/io/real_clock.h"
#include "gateway/gateway_server.h"

namespace gf {

namespace {

struct GatewayArgs {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string controller;
  std::string token;
  std::string cluster;
  std::vector<std::string> upstreams;
  std::string queue_timeout = "30s";
  std::string max_body = "4MiB";
  std::string upstream_timeout = "10m";
  std::string drain_timeout = "30s";
  std::string idle_timeout = "60s";
  std::string body_timeout = "30s";
  std::string write_timeout = "30s";
  int replica_concurrency = 0;
  std::string busy_poll = "0s";
  int64_t max_connections = 0;
  int64_t max_connections_per_client = 0;
  bool auth_reads = false;
};

int run_gateway(const GatewayArgs& a) {
  GatewayOptions o;
  o.host = a.host;
  o.port = a.port;
  o.controller_token = a.token;
  if (o.controller_token.empty()) {
    if (const char* t = std::getenv("GPUFLEET_TOKEN")) o.controller_token = t;
  }
  if (!a.controller.empty()) {
    auto hp = net::parse_host_port(a.controller);
    if (!hp) {
      std::cerr << "error: --controller: " << hp.error().message << '\n';
      return 2;
    }
    o.controller = *hp;
  }
  for (const auto& u : a.upstreams) {
    size_t eq = u.find('=');
    auto hp = eq == std::string::npos
                  ? Result<net::HostPort>(make_error(ErrorCode::kInvalidArgument, "missing '='"))
                  : net::parse_host_port(u.substr(eq + 1));
    if (!hp) {
      std::cerr << "error: --upstream " << u << ": " << hp.error().message
                << " (expected MODEL=HOST:PORT)\n";
      return 2;
    }
    std::string model = u.substr(0, eq);
    RouteModel* m = nullptr;
    for (auto& x : o.static_routes.models) {
      if (x.model == model) m = &x;
    }
    if (m == nullptr) {
      o.static_routes.models.push_back(RouteModel{model, model, "least-work", {}, {}});
      m = &o.static_routes.models.back();
      m->revisions.push_back(RouteRevision{"static", 1, {}});
    }
    auto& reps = m->revisions.front().replicas;
    reps.push_back(RouteReplica{model + "-" + std::to_string(reps.size()),
                                hp->host + ":" + std::to_string(hp->port)});
  }
  if (o.controller && !o.static_routes.models.empty()) {
    std::cerr << "error: give --controller or --upstream, not both\n";
    return 2;
  }
  if (!a.cluster.empty()) {
    Manifests m;
    if (!load_all({a.cluster}, m, std::cerr)) return 2;
    o.tenants = m.tenants;
  }
  auto qt = duration_flag("--queue-timeout", a.queue_timeout, std::chrono::milliseconds(1));
  auto ut = duration_flag("--upstream-timeout", a.upstream_timeout, std::chrono::milliseconds(1));
  auto dt = duration_flag("--drain-timeout", a.drain_timeout, std::chrono::milliseconds(1));
  // The client side counts whole seconds.
  auto it = duration_flag("--idle-timeout", a.idle_timeout, std::chrono::seconds(1));
  auto bt = duration_flag("--body-timeout", a.body_timeout, std::chrono::seconds(1));
  auto wt = duration_flag("--write-timeout", a.write_timeout, std::chrono::seconds(1));
  auto bp = duration_flag("--busy-poll", a.busy_poll, Duration(0));
  for (const auto* d : {&qt, &ut, &dt, &it, &bt, &wt, &bp}) {
    if (*d) continue;
    std::cerr << "error: " << d->error().message << '\n';
    return 2;
  }
  o.drain_timeout = *dt;
  o.idle_timeout = *it;
  o.body_timeout = *bt;
  o.write_timeout = *wt;
  o.admission.queue_timeout = *qt;
  auto mb = parse_bytes(a.max_body);
  if (!mb || mb->value <= 0) {
    std::cerr << "error: --max-body: " << (mb ? "must be positive" : mb.error().message) << '\n';
    return 2;
  }
  o.max_body_bytes = static_cast<size_t>(mb->value);
  o.upstream_timeout = *ut;
  if (a.replica_concurrency < 0) {
    std::cerr << "error: --replica-concurrency: must be 0 (no limit) or more\n";
    return 2;
  }
  o.replica_concurrency = a.replica_concurrency;
  if (a.max_connections < 0 || a.max_connections_per_client < 0) {
    std::cerr << "error: --max-connections and --max-connections-per-client must be 0 (the "
                 "default) or more\n";
    return 2;
  }
  o.auth_reads = a.auth_reads;
  if (o.auth_reads && o.controller_token.empty()) {
    std::cerr << "error: --auth-reads needs a token (--token or $GPUFLEET_TOKEN)\n";
    return 2;
  }
  o.max_connections = static_cast<size_t>(a.max_connections);
  o.max_connections_per_client = static_cast<size_t>(a.max_connections_per_client);
  // One thread runs everything and nothing else touches the io_context (names are resolved
  // without asio's resolver, see net/resolve.h), so neither the scheduler nor the sockets need
  // a lock: a mutex round fewer for every handler.
  boost::asio::io_context io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE);
  RealClock clock;
  auto server = GatewayServer::create(io, o, clock);
  if (!server) {
    std::cerr << "error: " << server.error().message << '\n';
    return 2;
  }
  (*server)->start();
  std::cout << "gateway listening on http://" << a.host << ":" << (*server)->port() << std::endl;
  run_until_signal(
      io, [&] { (*server)->stop(); }, *bp);
  return 0;
}

}  // namespace

void add_gateway_command(CLI::App& app, int& status) {
  auto a = std::make_shared<GatewayArgs>();
  auto* c = app.add_subcommand("gateway", "Run the OpenAI-compatible gateway");
  c->add_option("--host", a->host, "Address to listen on")->capture_default_str();
  c->add_option("--port", a->port, "Port (0 = any free port, printed on start)")
      ->capture_default_str();
  c->add_option("--controller", a->controller, "Controller URL whose routing table to follow");
  c->add_option("--token", a->token, "Token for the controller (default: $GPUFLEET_TOKEN)");
  c->add_option("--cluster", a->cluster, "Manifest with the Tenant documents (API keys, limits)");
  c->add_option("--upstream", a->upstreams,
                "A fixed replica, MODEL=HOST:PORT (repeatable), instead of --controller");
  c->add_option("--queue-timeout", a->queue_timeout, "Longest wait for capacity")
      ->capture_default_str();
  c->add_option("--max-body", a->max_body, "Largest request body")->capture_default_str();
  c->add_option("--upstream-timeout", a->upstream_timeout,
                "Longest a replica may take for a whole response")
      ->capture_default_str();
  c->add_option("--drain-timeout", a->drain_timeout,
                "How long requests in flight to a replica that left the routing table may run")
      ->capture_default_str();
  c->add_option("--idle-timeout", a->idle_timeout, "Close a client connection idle this long")
      ->capture_default_str();
  c->add_option("--body-timeout", a->body_timeout,
                "Longest time to receive a request body once its head arrived")
      ->capture_default_str();
  c->add_option("--write-timeout", a->write_timeout,
                "A client that takes longer than this to accept one write is treated as gone")
      ->capture_default_str();
  c->add_option("--replica-concurrency", a->replica_concurrency,
                "Requests one replica takes at once before requests queue (0 = no limit)")
      ->capture_default_str();
  c->add_flag("--auth-reads", a->auth_reads,
              "/v1/routing and /metrics need the token too (they name every replica)");
  c->add_option("--max-connections", a->max_connections,
                "Client connections held at once; past it new ones get 503 (0 = the descriptor "
                "limit less a quarter)")
      ->capture_default_str();
  c->add_option("--max-connections-per-client", a->max_connections_per_client,
                "Connections one client address may hold; past it 429 (0 = no cap)")
      ->capture_default_str();
  c->add_option("--busy-poll", a->busy_poll,
                "Poll the sockets this long after the last event before sleeping: lower latency "
                "on a dedicated core, at the cost of a core that spins (0 = off)")
      ->capture_default_str();
  c->callback([a, &status] { status = run_gateway(*a); });
}

}  // namespace gf
