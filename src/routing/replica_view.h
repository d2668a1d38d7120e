// A replica as routing sees it: identity from the controller's routing table plus the live load
// the gateway tracks itself or is told by the replica's metrics. Policies read only this.
#pragma once

#include <optional>
#include <string>

#include "common/units.h"
#include "routing/prefix_index.h"

namespace gf {

struct ReplicaView {
  // From the routing table.
  std::string id;
  std::string revision;
  int revision_weight = 0;  // share of the model's traffic its revision gets (see TrafficSplit)
  bool ready = false;       // passed its readiness probe
  bool draining = false;    // being removed: finishes what it has, gets nothing new
  // Its position in the model's replica table, stable while the replica exists. Policies key
  // per-replica state (rings, prefix index owners) on it rather than on the id string.
  ReplicaSlot slot = 0;
  // How fast it serves next to the model's fastest replica, in (0, 1] (RouteReplica::speed).
  double speed = 1.0;

  // Tracked by the router on every pick and finish: exact and current.
  int outstanding = 0;           // requests sent and not yet finished
  Tokens outstanding_tokens{0};  // their estimated tokens: LLM requests differ 100x in size
  // Reported by the replica (vLLM's vllm:gpu_cache_usage_perc, vllm:num_requests_waiting) and
  // scraped by the gateway: seconds old, absent until the first report.
  std::optional<double> kv_cache_usage;  // 0..1
  std::optional<int> queue_length;
};

// What a replica reported about itself.
struct LoadReport {
  std::optional<double> kv_cache_usage;  // 0..1
  std::optional<int> queue_length;       // >= 0
};

}  // namespace gf
