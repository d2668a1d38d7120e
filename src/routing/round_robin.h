// round-robin: each routable replica in turn. The baseline: blind to load and to caches.
#pragma once

#include "routing/policy.h"

namespace gf {

class RoundRobinPolicy final : public Policy {
 public:
  std::string_view name() const override { return "round-robin"; }
  Choice pick(const RouteRequest& request, std::span<const ReplicaView* const> candidates) override;

 private:
  uint64_t next_ = 0;
};

}  // namespace gf
