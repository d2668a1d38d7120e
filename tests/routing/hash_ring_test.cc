#include "routing/hash_ring.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "routing/hash.h"

namespace gf {
namespace {

struct Fleet {
  std::vector<std::string> ids;
  HashRing ring;
  void build() {
    std::vector<HashRing::Member> m;
    for (size_t i = 0; i < ids.size(); ++i)
      m.push_back({ids[i], static_cast<ReplicaSlot>(i)});
    ring.assign(m);
  }
  std::string owner(uint64_t key) const { return ids[ring.owner(key)]; }
};

Fleet fleet(int n) {
  Fleet f;
  for (int i = 0; i < n; ++i)
    f.ids.push_back("llama-70b-" + std::to_string(i));
  f.build();
  return f;
}

TEST(HashRing, RemovingAReplicaMovesOnlyItsKeys) {
  Fleet f = fleet(10);
  constexpr int kKeys = 20'000;
  std::vector<std::string> before;
  for (int k = 0; k < kKeys; ++k)
    before.push_back(f.owner(mix64(k)));
  // Remove replica 3; the others keep their ids but get different slots.
  f.ids.erase(f.ids.begin() + 3);
  f.build();
  int moved = 0;
  for (int k = 0; k < kKeys; ++k) {
    const std::string now = f.owner(mix64(k));
    if (now != before[k]) {
      ++moved;
      EXPECT_EQ(before[k], "llama-70b-3") << "key " << k << " moved off a replica that stayed";
    }
  }
  const double fraction = static_cast<double>(moved) / kKeys;
  EXPECT_GT(fraction, 0.05);
  EXPECT_LT(fraction, 0.15);  // ~1/10
}

TEST(HashRing, AddingAReplicaMovesKeysOnlyToIt) {
  Fleet f = fleet(10);
  constexpr int kKeys = 20'000;
  std::vector<std::string> before;
  for (int k = 0; k < kKeys; ++k)
    before.push_back(f.owner(mix64(k)));
  f.ids.push_back("llama-70b-new");
  f.build();
  int moved = 0;
  for (int k = 0; k < kKeys; ++k) {
    const std::string now = f.owner(mix64(k));
    if (now != before[k]) {
      ++moved;
      EXPECT_EQ(now, "llama-70b-new");
    }
  }
  const double fraction = static_cast<double>(moved) / kKeys;
  EXPECT_GT(fraction, 0.045);
  EXPECT_LT(fraction, 0.14);  // ~1/11
}

TEST(HashRing, SpreadsKeysEvenly) {
  Fleet f = fleet(16);
  std::map<std::string, int> count;
  constexpr int kKeys = 160'000;
  for (int k = 0; k < kKeys; ++k)
    ++count[f.owner(mix64(k))];
  ASSERT_EQ(count.size(), 16u);
  for (const auto& [id, n] : count) {
    EXPECT_GT(n, kKeys / 16 * 0.75) << id;
    EXPECT_LT(n, kKeys / 16 * 1.25) << id;
  }
}

TEST(HashRing, WalkSkipsRefusedReplicasAndGivesUpAfterOneTurn) {
  Fleet f = fleet(4);
  const ReplicaSlot first = f.ring.owner(99);
  const ReplicaSlot next = f.ring.walk(99, [&](ReplicaSlot s) { return s != first; });
  EXPECT_NE(next, first);
  EXPECT_NE(next, PrefixIndex::kNoOwner);
  EXPECT_EQ(f.ring.walk(99, [](ReplicaSlot) { return false; }), PrefixIndex::kNoOwner);
  HashRing empty;
  EXPECT_EQ(empty.owner(1), PrefixIndex::kNoOwner);
}

}  // namespace
}  // namespace gf
