#include "routing/session_affinity.h"

#include "routing/bounded_load.h"
#include "routing/hash.h"

namespace gf {

void SessionAffinityPolicy::replicas_changed(std::span<const ReplicaView* const> live,
                                             std::span<const ReplicaSlot>) {
  members_.clear();
  for (const ReplicaView* r : live)
    members_.push_back({r->id, r->slot});
  ring_.assign(members_);
}

Choice SessionAffinityPolicy::pick(const RouteRequest& request,
                                   std::span<const ReplicaView* const> candidates) {
  if (request.session_key.empty()) return fallback_.pick(request, candidates);
  set_.assign(candidates);
  const LoadBound bound = LoadBound::of(candidates, load_factor_);
  const ReplicaSlot s = ring_.walk(xxh64(request.session_key), [&](ReplicaSlot slot) {
    const int i = set_.position(slot);
    return i >= 0 && bound.admits(*candidates[static_cast<size_t>(i)]);
  });
  if (s == PrefixIndex::kNoOwner) return fallback_.pick(request, candidates);  // ring not built
  return Choice{static_cast<size_t>(set_.position(s)), 0};
}

}  // namespace gf
