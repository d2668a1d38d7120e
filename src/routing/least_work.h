// least-work: the replica that would finish its work soonest with this request added — the
// estimated tokens in flight there plus this request's, over the replica's speed. On one GPU
// model that is the fewest tokens in flight; on a mixed fleet a slower GPU gets its share rather
// than an equal one, and a long prompt goes where it is done soonest. The gateway's own counts are
// exact and current, unlike scraped engine metrics.
#pragma once

#include "routing/policy.h"

namespace gf {

class LeastWorkPolicy final : public Policy {
 public:
  std::string_view name() const override { return "least-work"; }
  Choice pick(const RouteRequest& request, std::span<const ReplicaView* const> candidates) override;

 private:
  // Ties (an idle fleet) are broken by a rotating start, as least-outstanding does.
  uint64_t next_ = 0;
};

}  // namespace gf
