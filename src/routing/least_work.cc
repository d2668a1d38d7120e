#include "routing/least_work.h"

#include <algorithm>

namespace gf {
namespace {

// When `a` would be done sooner than `b` with `tokens` more: compared by cross-multiplying, so
// equal speeds compare tokens exactly. Then fewer requests, as least-outstanding.
bool sooner(const ReplicaView& a, const ReplicaView& b, double tokens) {
  const double wa = (static_cast<double>(a.outstanding_tokens.value) + tokens) * b.speed;
  const double wb = (static_cast<double>(b.outstanding_tokens.value) + tokens) * a.speed;
  if (wa != wb) return wa < wb;
  return a.outstanding < b.outstanding;
}

}  // namespace

Choice LeastWorkPolicy::pick(const RouteRequest& request,
                             std::span<const ReplicaView* const> candidates) {
  const size_t n = candidates.size();
  const size_t start = static_cast<size_t>(next_++ % n);
  // At least one token: a request with no estimate still adds work, so speed still decides.
  const double tokens = static_cast<double>(std::max<int64_t>(1, request.estimated_tokens.value));
  size_t best = start;
  for (size_t k = 1; k < n; ++k) {
    const size_t i = (start + k) % n;
    if (sooner(*candidates[i], *candidates[best], tokens)) best = i;
  }
  return Choice{best, 0};
}

}  // namespace gf
