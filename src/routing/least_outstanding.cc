#include "routing/least_outstanding.h"

namespace gf {

Choice LeastOutstandingPolicy::pick(const RouteRequest&,
                                    std::span<const ReplicaView* const> candidates) {
  const size_t n = candidates.size();
  const size_t start = static_cast<size_t>(next_++ % n);
  size_t best = start;
  for (size_t k = 1; k < n; ++k) {
    const size_t i = (start + k) % n;
    if (less_loaded(*candidates[i], *candidates[best])) best = i;
  }
  return Choice{best, 0};
}

}  // namespace gf
