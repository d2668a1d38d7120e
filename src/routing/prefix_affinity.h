// prefix-affinity: a request goes where its longest remembered prefix went, so the replica finds
// that prefix in its KV cache and skips its prefill — consistent hashing with bounded loads
// keyed on the longest prefix seen before.
//
//   1. Look the request's chained block hashes up in the bounded prefix index. If a remembered
//      prefix covers at least min_match_ratio of the request, try its replicas, most recent
//      first; the first under the load bound wins.
//   2. Otherwise walk the consistent-hash ring from that prefix's deepest block (or, when nothing
//      useful matched, from the request's own deepest block) to the first replica under the
//      bound. Independent gateways, which do not share their indexes, therefore still agree on
//      where a prefix goes (llm-d-router#1593), and new prompts spread evenly instead of all
//      landing on one replica (sglang#32983).
//   3. Remember the request's blocks as held by the chosen replica.
//
// Requests without blocks (prompts shorter than one block) go where least-work would send them.
#pragma once

#include <vector>

#include "routing/candidate_set.h"
#include "routing/hash_ring.h"
#include "routing/least_work.h"
#include "routing/policy.h"
#include "routing/prefix_index.h"

namespace gf {

class PrefixAffinityPolicy final : public Policy {
 public:
  explicit PrefixAffinityPolicy(const PolicyConfig& config);

  std::string_view name() const override { return "prefix-affinity"; }
  void replicas_changed(std::span<const ReplicaView* const> live,
                        std::span<const ReplicaSlot> removed) override;
  Choice pick(const RouteRequest& request, std::span<const ReplicaView* const> candidates) override;
  void routed(const RouteRequest& request, const ReplicaView& chosen) override;

  const PrefixIndex& index() const { return index_; }

 private:
  double load_factor_;
  double min_match_ratio_;
  PrefixIndex index_;
  HashRing ring_;
  CandidateSet set_;
  LeastWorkPolicy fallback_;
  std::vector<HashRing::Member> members_;
};

}  // namespace gf
