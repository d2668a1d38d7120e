// A consistent-hash ring of replicas (ketama-style virtual nodes). A replica's points depend
// only on its id, so adding or removing one replica moves only the keys that land on it — about
// 1/n of them — and every other key keeps its replica (and that replica's KV cache).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "routing/prefix_index.h"

namespace gf {

class HashRing {
 public:
  // 160 points per replica, as ketama: the heaviest replica then owns 1.1x its fair share of
  // keys with 8 replicas, 1.3x with 64 (measured), and bounded loads absorb the rest. The ring
  // for 64 replicas is 10,240 points (160 KiB).
  static constexpr int kDefaultPointsPerReplica = 160;

  struct Member {
    std::string_view id;
    ReplicaSlot slot;
  };

  explicit HashRing(int points_per_replica = kDefaultPointsPerReplica)
      : points_per_replica_(points_per_replica) {}

  // Rebuilds the ring for exactly these replicas. Cost O(n·points·log), done on routing-table
  // updates, never per request.
  void assign(std::span<const Member> members);

  bool empty() const { return points_.empty(); }
  size_t points() const { return points_.size(); }

  // Walks clockwise from `key`'s position and returns the first replica `accept(slot)` takes,
  // or PrefixIndex::kNoOwner after a full turn. A replica appears many times on the ring, so
  // `accept` may see the same slot again; it must be a cheap pure test.
  template <class Accept>
  ReplicaSlot walk(uint64_t key, Accept&& accept) const {
    if (points_.empty()) return PrefixIndex::kNoOwner;
    const size_t n = points_.size();
    size_t i = start(key);
    for (size_t step = 0; step < n; ++step, i = (i + 1 == n ? 0 : i + 1))
      if (accept(points_[i].slot)) return points_[i].slot;
    return PrefixIndex::kNoOwner;
  }

  // The replica that owns `key` when every replica is acceptable.
  ReplicaSlot owner(uint64_t key) const {
    return walk(key, [](ReplicaSlot) { return true; });
  }

 private:
  struct Point {
    uint64_t position;
    ReplicaSlot slot;
  };
  size_t start(uint64_t key) const;

  int points_per_replica_;
  std::vector<Point> points_;  // sorted by position
};

}  // namespace gf
