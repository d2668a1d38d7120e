#include "routing/power_of_two.h"

#include "routing/least_outstanding.h"

namespace gf {

Choice PowerOfTwoPolicy::pick(const RouteRequest&, std::span<const ReplicaView* const> candidates) {
  const uint64_t n = candidates.size();
  if (n == 1) return Choice{0, 0};
  // gf::Rng rather than a std distribution: the same draws with every standard library.
  const auto a = static_cast<size_t>(rng_.uniform_below(n));
  auto b = static_cast<size_t>(rng_.uniform_below(n - 1));
  if (b >= a) ++b;  // distinct from a
  return Choice{less_loaded(*candidates[b], *candidates[a]) ? b : a, 0};
}

}  // namespace gf
