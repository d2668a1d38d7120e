// session-affinity: requests with the same session key (the OpenAI `user` field or a session
// header) go to the same replica, whose KV cache holds the conversation so far — consistent
// hashing with bounded loads on the key. Without a key it routes as least-work.
#pragma once

#include <vector>

#include "routing/candidate_set.h"
#include "routing/hash_ring.h"
#include "routing/least_work.h"
#include "routing/policy.h"

namespace gf {

class SessionAffinityPolicy final : public Policy {
 public:
  explicit SessionAffinityPolicy(const PolicyConfig& config)
      : load_factor_(config.load_factor), ring_(config.ring_points) {}

  std::string_view name() const override { return "session-affinity"; }
  void replicas_changed(std::span<const ReplicaView* const> live,
                        std::span<const ReplicaSlot> removed) override;
  Choice pick(const RouteRequest& request, std::span<const ReplicaView* const> candidates) override;

 private:
  double load_factor_;
  HashRing ring_;
  CandidateSet set_;
  LeastWorkPolicy fallback_;
  std::vector<HashRing::Member> members_;  // scratch for replicas_changed
};

}  // namespace gf
