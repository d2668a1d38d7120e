#include "routing/round_robin.h"

namespace gf {

Choice RoundRobinPolicy::pick(const RouteRequest&, std::span<const ReplicaView* const> candidates) {
  return Choice{static_cast<size_t>(next_++ % candidates.size()), 0};
}

}  // namespace gf
