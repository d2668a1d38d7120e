// The routing table the controller publishes and gateways follow: per model, its revisions with
// traffic weights and the ready replicas of each. Plain values; the JSON form is in
// wire/routing_table_json.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gf {

struct RouteReplica {
  std::string id;
  std::string address;  // host:port
  // The controller lists only Ready replicas today; these let a table say more (a replica still
  // starting, or draining before it leaves) and default to what an older controller means.
  bool ready = true;
  bool draining = false;
  // How many times its agent restarted the engine. A change means a fresh process, whose past
  // failures say nothing about it: the gateway ends its outlier ejection (docs/routing.md).
  int restarts = 0;
  // The engine's own load as its agent last reported it (vLLM's vllm:kv_cache_usage_perc and
  // vllm:num_requests_waiting), for routers that weigh it (kv-aware). nullopt: unknown, never
  // zero. The controller republishes these only when they moved enough to matter (docs/routing.md,
  // "Engine load in the table"), so they may lag the engine by a second or so.
  std::optional<double> kv_cache_usage;  // 0..1
  std::optional<int> queue_length;       // requests waiting in the engine
  // How fast it serves next to its deployment's fastest replica, in (0, 1]: the perf model's
  // capacity for a reference request on its GPU model over the best GPU model's
  // (perfmodel/replica_capacity.h). 1 when every replica runs on one GPU model or the perf model
  // does not know them. least-work routes by it, so a slow GPU gets its share, not an equal one.
  double speed = 1.0;
  // The secret the gateway presents to the engine (admission/api_key.h). Only in a table read
  // with the admin token; never in a gateway's own /v1/routing.
  std::string api_key;
};

struct RouteRevision {
  std::string revision;
  int weight = 0;  // share of traffic, relative to the model's other revisions
  std::vector<RouteReplica> replicas;
};

struct RouteModel {
  std::string model;
  std::string deployment;
  std::string policy;                // routing policy name (DeploymentSpec::routing)
  std::vector<std::string> tenants;  // empty = every tenant
  std::vector<RouteRevision> revisions;
  // Why the model has no ready replica and none is about to come (every replica crash-loops),
  // in words for the client; empty otherwise. Gateways refuse at once with it rather than hold
  // requests for a replica that will not come.
  std::string unavailable;
};

struct RoutingTable {
  uint64_t version = 0;  // grows with every change; gateways watch from the one they hold
  std::vector<RouteModel> models;
};

}  // namespace gf
