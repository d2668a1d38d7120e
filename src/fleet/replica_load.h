// A replica's load by its engine's own metrics, as its agent last read them: the compact summary a
// heartbeat carries (agent/load_summary.h builds it, wire/agent_protocol.h encodes it) and the
// fleet keeps per replica for the routing table, the autoscaler and the API. Every field is
// optional: absent means unknown, never zero.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/units.h"

namespace gf {

struct ReplicaLoad {
  std::optional<int> running;               // requests in the engine's batch
  std::optional<int> waiting;               // requests queued in the engine
  std::optional<double> kv_cache_usage;     // share of the KV cache in use, 0..1
  std::optional<Tokens> prompt_tokens;      // counter: prompt tokens since the engine started
  std::optional<Tokens> generation_tokens;  // counter: tokens generated since it started
  // Counter: time to first token of every request since the engine started, in
  // common/traffic_report.h's TTFT buckets. Cumulative, so a lost heartbeat loses nothing: the
  // autoscaler takes the difference between readings (a drop means the engine restarted).
  // Empty: unknown.
  std::vector<uint64_t> ttft_counts;
  // Counter, in the same buckets: each request's time in the engine's queue, from its arrival to
  // the first iteration that took it into the batch (vLLM's request_queue_time_seconds, which
  // vLLM counts when the request finishes). The part of a late first token that more replicas
  // would shorten. Empty: unknown.
  std::vector<uint64_t> queue_counts;
  Duration age{0};  // how old the reading was when it was sent (or, in the fleet, when asked)

  bool operator==(const ReplicaLoad&) const = default;
};

// A reading older than this many heartbeat intervals says too little about the engine now: the
// agent does not send it and the fleet stops using the last one it received. Three intervals
// leave room for one slow scrape and one lost heartbeat.
inline constexpr int kLoadMaxAgeHeartbeats = 3;

}  // namespace gf
