// The load bound of consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam,
// SODA 2018): no replica takes a new request while it holds c times the average or more.
// Affinity policies walk past replicas at the bound, so a hot prefix or session spills over to
// the next replica on the ring instead of piling onto one (the load imbalance behind AIBrix#842
// and SGLang's "death spiral", sglang PR#14305).
#pragma once

#include <cmath>
#include <span>

#include "routing/replica_view.h"

namespace gf {

struct LoadBound {
  int limit = 0;  // a replica admits a new request while outstanding < limit

  bool admits(const ReplicaView& r) const { return r.outstanding < limit; }

  // limit = ceil(c · (m + 1) / n) for m outstanding requests on n candidates, counting the one
  // being placed. Some replica always holds at most floor(m / n) < limit, so with c >= 1 at
  // least one candidate is always admitted.
  static LoadBound of(std::span<const ReplicaView* const> candidates, double c) {
    long total = 0;
    for (const ReplicaView* r : candidates)
      total += r->outstanding;
    const double n = static_cast<double>(candidates.empty() ? 1 : candidates.size());
    return LoadBound{static_cast<int>(std::ceil(c * static_cast<double>(total + 1) / n))};
  }
};

}  // namespace gf
