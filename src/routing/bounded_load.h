// The load bound of consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam,
// SODA 2018): no replica takes a new request while it holds c times its share or more, its share
// weighted by its speed.
// Affinity policies walk past replicas at the bound, so a hot prefix or session spills over to
// the next replica on the ring instead of piling onto one (the load imbalance behind AIBrix#842
// and SGLang's "death spiral", sglang PR#14305).
#pragma once

#include <cmath>
#include <span>

#include "routing/replica_view.h"

namespace gf {

struct LoadBound {
  // c · (m + 1) over the candidates' summed speed: a replica's share of the bound per unit of
  // speed (RouteReplica::speed), so a GPU half as fast holds half as many before it spills.
  double per_speed = 0;

  // limit = ceil(c · (m + 1) · speed / total speed) for m outstanding requests on the
  // candidates, counting the one being placed; with equal speeds ceil(c · (m + 1) / n). Were every
  // replica at its limit, they would hold at least c · (m + 1) > m requests in all: with c >= 1
  // at least one candidate is always admitted.
  int limit(const ReplicaView& r) const { return static_cast<int>(std::ceil(per_speed * r.speed)); }
  bool admits(const ReplicaView& r) const { return r.outstanding < limit(r); }

  static LoadBound of(std::span<const ReplicaView* const> candidates, double c) {
    long total = 0;
    double speed = 0;
    for (const ReplicaView* r : candidates) {
      total += r->outstanding;
      speed += r->speed;
    }
    if (speed <= 0) speed = 1;  // no candidates
    return LoadBound{c * static_cast<double>(total + 1) / speed};
  }
};

}  // namespace gf
