// `gpufleet gateway` as an object: the OpenAI-compatible front (/v1/chat/completions,
// /v1/completions, /v1/embeddings, /v1/models) and the proxy that passes streams through chunk by
// chunk, around the serving core (serving/serving.h), which makes every decision about a request.
// Follows the controller's routing table with a long-poll watch and keeps its last table when
// the controller is down. One io_context thread: the core needs no locks.
#pragma once

#include <utility>  // before asio (Boost 1.74 + GCC 12)

#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admission/admission_controller.h"
#include "common/clock.h"
#include "common/prefix_hash.h"
#include "common/routing_table.h"
#include "common/spec.h"
#include "net/http_client.h"
#include "routing/router.h"

namespace gf {

struct GatewayOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::optional<net::HostPort> controller;  // none: only the static table below
  std::string controller_token;
  // /v1/routing and /metrics need the controller token too (they name every replica and model).
  bool auth_reads = false;
  RoutingTable static_routes;       // used until (or instead of) the controller's table
  std::vector<TenantSpec> tenants;  // none = open mode: every request is tenant "anonymous"
  AdmissionConfig admission;
  RouterConfig router;
  PrefixHashConfig prefix;
  size_t max_body_bytes = 4 << 20;
  size_t max_header_bytes = 16 << 10;
  size_t max_connections = 0;             // net::ServerOptions: 0 = descriptor limit less a quarter
  size_t max_connections_per_client = 0;  // 0 = no cap
  Duration idle_timeout = std::chrono::seconds(60);   // a kept-alive client connection, unused
  Duration body_timeout = std::chrono::seconds(30);   // reading a request body once its head came
  Duration write_timeout = std::chrono::seconds(30);  // one write to a client that stopped reading
  // A replica that leaves the routing table finishes its requests in flight up to this long;
  // then they are cut (streams end with an error event, unsent ones are retried elsewhere).
  Duration drain_timeout = std::chrono::seconds(30);
  Duration upstream_timeout = std::chrono::minutes(10);  // whole response, long generations too
  Duration connect_timeout = std::chrono::seconds(2);
  int max_retries = 2;  // other replicas tried while no byte reached the client
  double retry_budget_ratio =
      0.2;  // requests retrying at once: this share of those in flight (min 3)
  int64_t default_max_tokens = 256;
  // Requests one replica takes at once (its engine's batch limit, e.g. vLLM's max-num-seqs);
  // beyond replicas x this, requests wait in the fair queue. 0 = no limit.
  int replica_concurrency = 0;
};

class GatewayServer {
 public:
  static Result<std::unique_ptr<GatewayServer>> create(boost::asio::io_context& io,
                                                       GatewayOptions options, const Clock& clock);
  ~GatewayServer();

  uint16_t port() const;
  void start();
  void stop();
  // Replaces the routing table (what the controller watch does); for tests and static routes.
  Status set_routing_table(const RoutingTable& table);

  struct Impl;

 private:
  explicit GatewayServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gf
