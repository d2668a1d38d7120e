#include "routing/hash_ring.h"

#include <algorithm>

#include "routing/hash.h"

namespace gf {

void HashRing::assign(std::span<const Member> members) {
  points_.clear();
  points_.reserve(members.size() * static_cast<size_t>(points_per_replica_));
  for (const Member& m : members) {
    const uint64_t base = xxh64(m.id);
    for (int i = 0; i < points_per_replica_; ++i)
      points_.push_back({mix64(base + static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL), m.slot});
  }
  // Ties (two replicas on one position) are broken by slot only for determinism; at 64-bit
  // positions they do not happen in practice.
  std::sort(points_.begin(), points_.end(), [](const Point& a, const Point& b) {
    return a.position != b.position ? a.position < b.position : a.slot < b.slot;
  });
}

size_t HashRing::start(uint64_t key) const {
  const uint64_t pos = mix64(key);
  auto it = std::lower_bound(points_.begin(), points_.end(), pos,
                             [](const Point& p, uint64_t v) { return p.position < v; });
  return it == points_.end() ? 0 : static_cast<size_t>(it - points_.begin());
}

}  // namespace gf
