// The replica-picking policy interface: one policy per model, named by DeploymentSpec::routing
// and made by name from the registry in policy_registry.h. Like Envoy's load balancers, a policy
// only chooses among replicas someone else has already found routable (ready, not draining, not
// ejected, in the revision the traffic split chose); it never sees an unroutable one and never
// fails.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "common/result.h"
#include "routing/replica_view.h"
#include "routing/route_request.h"

namespace gf {

// Weights of kv-aware's score terms; each term is normalised to [0, 1] across the candidates.
// The defaults are llm-d's profile (prefix 3, queue 1, KV cache 1) plus our load term; on the
// Mooncake replay prefix 3 beat 1 and 2 and tied 5 and 10 (docs/routing.md).
struct KvAwareWeights {
  double prefix = 3.0;    // share of the request's blocks the replica already holds
  double load = 1.0;      // outstanding tokens (requests when no estimates), least is best
  double kv_cache = 1.0;  // reported KV-cache usage, least is best
  double queue = 1.0;     // reported engine queue length, least is best
};

struct PolicyConfig {
  // c of bounded loads (prefix-affinity, session-affinity, kv-aware): a replica holding c times
  // the average outstanding requests or more is passed over. 1.25 as in Mirrokni et al.'s
  // experiments; larger keeps more affinity, 1.0 is strict balance.
  double load_factor = 1.25;
  // Entries of the per-model prefix index (prefix-affinity, kv-aware), 44 bytes each: 262,144
  // entries = 11 MiB per model, enough for ~13,000 conversations of 64 KiB prompts (20
  // checkpoint entries each, see prefix_index.h).
  size_t prefix_index_entries = 262'144;
  // prefix-affinity follows a remembered prefix only when it covers at least this share of the
  // request's blocks: a shared system prompt alone is not worth giving up balance for (Ray's
  // PrefixCacheAffinityRouter uses match_rate_threshold 0.1 the same way).
  double min_match_ratio = 0.1;
  int ring_points = 160;  // virtual nodes per replica on the consistent-hash rings
  uint64_t seed = 1;      // power-of-two's random choices: fixed, so runs are repeatable
  KvAwareWeights kv_aware;
};

Status validate(const PolicyConfig& config);

// What a policy chose.
struct Choice {
  size_t index = 0;  // into the candidate list
  size_t prefix_blocks_matched =
      0;  // of the request's blocks, how many the replica is known to hold
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string_view name() const = 0;

  // The model's replica table changed. `live`: every replica now in the table, routable or
  // not; `removed`: slots of replicas that left since the last call (their slots may be reused
  // by later additions). Rings are rebuilt and indexes purged here, never per request.
  virtual void replicas_changed(std::span<const ReplicaView* const> live,
                                std::span<const ReplicaSlot> removed) {
    (void)live;
    (void)removed;
  }

  // Chooses one of `candidates`: never empty, all routable, all of one revision.
  virtual Choice pick(const RouteRequest& request,
                      std::span<const ReplicaView* const> candidates) = 0;

  // The request was sent to `chosen`; policies that learn from routing (the prefix index)
  // record it here.
  virtual void routed(const RouteRequest& request, const ReplicaView& chosen) {
    (void)request;
    (void)chosen;
  }
};

}  // namespace gf
