#include "routing/prefix_affinity.h"

#include <cmath>

#include "routing/bounded_load.h"

namespace gf {

PrefixAffinityPolicy::PrefixAffinityPolicy(const PolicyConfig& config)
    : load_factor_(config.load_factor),
      min_match_ratio_(config.min_match_ratio),
      index_(config.prefix_index_entries),
      ring_(config.ring_points) {}

void PrefixAffinityPolicy::replicas_changed(std::span<const ReplicaView* const> live,
                                            std::span<const ReplicaSlot> removed) {
  // A removed replica's slot may be reused by a new one, which must not inherit its prefixes.
  for (ReplicaSlot s : removed)
    index_.forget(s);
  members_.clear();
  for (const ReplicaView* r : live)
    members_.push_back({r->id, r->slot});
  ring_.assign(members_);
}

Choice PrefixAffinityPolicy::pick(const RouteRequest& request,
                                  std::span<const ReplicaView* const> candidates) {
  const auto blocks = request.prefix_blocks;
  if (blocks.empty()) return fallback_.pick(request, candidates);
  set_.assign(candidates);
  const LoadBound bound = LoadBound::of(candidates, load_factor_);

  const PrefixIndex::Match m =
      index_.longest_match(blocks, [&](size_t len, const PrefixIndex::Owners& owners) {
        for (ReplicaSlot o : owners)
          if (o != PrefixIndex::kNoOwner) set_.raise_matched(o, len);
      });
  const auto needed =
      static_cast<size_t>(std::ceil(min_match_ratio_ * static_cast<double>(blocks.size())));
  const bool useful = m.blocks > 0 && m.blocks >= needed;
  if (useful) {
    for (ReplicaSlot o : m.owners) {
      const int i = o == PrefixIndex::kNoOwner ? -1 : set_.position(o);
      if (i >= 0 && bound.admits(*candidates[static_cast<size_t>(i)]))
        return Choice{static_cast<size_t>(i), m.blocks};
    }
  }
  const uint64_t key = useful ? blocks[m.blocks - 1] : blocks.back();
  const ReplicaSlot s = ring_.walk(key, [&](ReplicaSlot slot) {
    const int i = set_.position(slot);
    return i >= 0 && bound.admits(*candidates[static_cast<size_t>(i)]);
  });
  if (s == PrefixIndex::kNoOwner) return fallback_.pick(request, candidates);  // ring not built
  return Choice{static_cast<size_t>(set_.position(s)), set_.matched(s)};
}

void PrefixAffinityPolicy::routed(const RouteRequest& request, const ReplicaView& chosen) {
  index_.record(request.prefix_blocks, chosen.slot);
}

}  // namespace gf
