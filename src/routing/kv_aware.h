// kv-aware: scores every candidate on what it would cost to serve the request there, after
// llm-d's filter → weighted scorers → picker pipeline:
//
//   filter  replicas at the load bound (c × average outstanding) are out, as in
//           prefix-affinity, so no cache hit is worth unbounded imbalance (AIBrix#842);
//   score   weights.prefix   × matched blocks / request blocks          (prefix index)
//         + weights.load     × (1 − outstanding tokens / max over candidates)
//         + weights.kv_cache × (1 − reported KV-cache usage)
//         + weights.queue    × (1 − reported queue length / max over candidates)
//   pick    the highest score; ties by a rotating start.
//
// A term every candidate scores alike (no reports yet, an idle fleet) changes nothing. A
// candidate that has not reported yet is scored at the mean of those that have, so a new
// replica is neither shunned nor flooded. Matched blocks come from the same bounded prefix
// index as prefix-affinity: exact for the replicas that hold the longest match, a lower bound
// for others (see PrefixIndex::longest_match).
#pragma once

#include "routing/candidate_set.h"
#include "routing/policy.h"
#include "routing/prefix_index.h"

namespace gf {

class KvAwarePolicy final : public Policy {
 public:
  explicit KvAwarePolicy(const PolicyConfig& config);

  std::string_view name() const override { return "kv-aware"; }
  void replicas_changed(std::span<const ReplicaView* const> live,
                        std::span<const ReplicaSlot> removed) override;
  Choice pick(const RouteRequest& request, std::span<const ReplicaView* const> candidates) override;
  void routed(const RouteRequest& request, const ReplicaView& chosen) override;

  const PrefixIndex& index() const { return index_; }

 private:
  double load_factor_;
  KvAwareWeights weights_;
  PrefixIndex index_;
  CandidateSet set_;
  uint64_t next_ = 0;
};

}  // namespace gf
