// least-outstanding: the replica with the fewest requests in flight, then the fewest estimated
// tokens in flight. The gateway's own counts are exact and current, unlike scraped engine
// metrics, which are seconds old.
#pragma once

#include "routing/policy.h"

namespace gf {

class LeastOutstandingPolicy final : public Policy {
 public:
  std::string_view name() const override { return "least-outstanding"; }
  Choice pick(const RouteRequest& request, std::span<const ReplicaView* const> candidates) override;

 private:
  // Ties are broken by a rotating start, so an idle fleet at low concurrency is used evenly
  // instead of always the first replica (the complaint in sglang#32983).
  uint64_t next_ = 0;
};

// Whether `a` is less loaded than `b`: fewer requests, then fewer tokens.
inline bool less_loaded(const ReplicaView& a, const ReplicaView& b) {
  if (a.outstanding != b.outstanding) return a.outstanding < b.outstanding;
  return a.outstanding_tokens < b.outstanding_tokens;
}

}  // namespace gf
