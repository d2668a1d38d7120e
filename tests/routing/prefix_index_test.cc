#include "routing/prefix_index.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

namespace gf {
namespace {

std::vector<uint64_t> chain(uint64_t conversation, size_t n) {
  std::vector<uint64_t> v;
  for (size_t i = 0; i < n; ++i)
    v.push_back(conversation * 1'000'000 + i);
  return v;
}

TEST(PrefixIndex, LongestMatchAndOwnersMostRecentFirst) {
  PrefixIndex idx(100);
  const auto a = chain(1, 10);
  idx.record(std::span(a).first(6), 3);
  auto m = idx.longest_match(a);
  EXPECT_EQ(m.blocks, 6u);
  EXPECT_EQ(m.owners[0], 3);
  EXPECT_EQ(m.owners[1], PrefixIndex::kNoOwner);

  idx.record(std::span(a).first(4), 7);  // replica 7 was sent the first 4 blocks later
  m = idx.longest_match(std::span(a).first(4));
  EXPECT_EQ(m.blocks, 4u);
  EXPECT_EQ(m.owners[0], 7);
  EXPECT_EQ(m.owners[1], 3);
  EXPECT_EQ(idx.longest_match(a).owners[0], 3);  // block 6 only ever went to 3

  EXPECT_EQ(idx.longest_match(chain(2, 5)).blocks, 0u);
}

TEST(PrefixIndex, KeepsAtMostFourOwnersPerBlock) {
  PrefixIndex idx(10);
  const auto a = chain(1, 1);
  for (ReplicaSlot r = 0; r < 6; ++r)
    idx.record(a, r);
  const auto* o = idx.owners(a[0]);
  ASSERT_NE(o, nullptr);
  EXPECT_EQ((*o)[0], 5);
  EXPECT_EQ((*o)[3], 2);
  idx.record(a, 3);  // already an owner: moves to the front, nobody falls off
  EXPECT_EQ((*o)[0], 3);
  EXPECT_EQ((*o)[1], 5);
  EXPECT_EQ((*o)[2], 4);
  EXPECT_EQ((*o)[3], 2);
}

TEST(PrefixIndex, EvictsLeastRecentlyUsed) {
  PrefixIndex idx(6);
  const auto a = chain(1, 3), b = chain(2, 3), c = chain(3, 3);
  idx.record(a, 0);
  idx.record(b, 1);
  idx.record(a, 0);  // a is now more recent than b
  idx.record(c, 2);  // evicts b
  EXPECT_EQ(idx.size(), 6u);
  EXPECT_EQ(idx.longest_match(a).blocks, 3u);
  EXPECT_EQ(idx.longest_match(b).blocks, 0u);
  EXPECT_EQ(idx.longest_match(c).blocks, 3u);
}

TEST(PrefixIndex, ForgetDropsAReplicaEverywhere) {
  PrefixIndex idx(100);
  const auto a = chain(1, 5), b = chain(2, 5);
  idx.record(a, 1);
  idx.record(b, 2);
  idx.record(std::span(b).first(2), 1);
  idx.forget(1);
  EXPECT_EQ(idx.longest_match(a).blocks, 0u);
  EXPECT_EQ(idx.size(), 5u);  // b's blocks stay, owned by 2 only
  const auto m = idx.longest_match(b);
  EXPECT_EQ(m.blocks, 5u);
  EXPECT_EQ((*idx.owners(b[0]))[0], 2);
  EXPECT_EQ((*idx.owners(b[0]))[1], PrefixIndex::kNoOwner);
  // Freed entries are reused.
  for (int i = 0; i < 50; ++i)
    idx.record(chain(10 + i, 2), 3);
  EXPECT_EQ(idx.size(), 100u);
}

// The bound the vLLM production stack lacks (#687): after millions of distinct prefixes, the
// index holds at most its capacity and its memory never grew.
TEST(PrefixIndexProperty, NeverExceedsItsCapacityOrMemory) {
  for (size_t cap : {1u, 7u, 1000u}) {
    PrefixIndex idx(cap);
    const size_t bytes = idx.memory_bytes();
    std::mt19937_64 rng(cap);
    for (int i = 0; i < 20'000; ++i) {
      const auto blocks = chain(rng() % 5000, 1 + rng() % 40);
      idx.record(blocks, static_cast<ReplicaSlot>(rng() % 64));
      if (rng() % 500 == 0) idx.forget(static_cast<ReplicaSlot>(rng() % 64));
      ASSERT_LE(idx.size(), cap);
      ASSERT_EQ(idx.memory_bytes(), bytes);
    }
    EXPECT_EQ(idx.capacity(), cap);
  }
  // The default index: 44 bytes an entry, 11 MiB, allocated once.
  EXPECT_EQ(PrefixIndex(262'144).memory_bytes(), 44u * 262'144);
}

TEST(PrefixIndex, CheckpointsAreEveryLengthToEightThenFourPerDoubling) {
  std::vector<size_t> got;
  for (size_t k = 1; k <= 24; ++k)
    got.push_back(PrefixIndex::checkpoint(k));
  EXPECT_EQ(got, (std::vector<size_t>{1,  2,  3,  4,  5,  6,  7,  8,  10, 12, 14,  16,
                                      20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128}));
  for (size_t n = 0; n <= 5000; ++n) {
    size_t count = 0;
    while (PrefixIndex::checkpoint(count + 1) <= n)
      ++count;
    ASSERT_EQ(PrefixIndex::checkpoints_upto(n), count) << n;
  }
}

TEST(PrefixIndex, RemembersCheckpointLengthsOnly) {
  PrefixIndex idx(100);
  const auto a = chain(1, 50);
  idx.record(a, 2);
  EXPECT_EQ(idx.size(), 18u);  // 1..8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48 — not 50
  EXPECT_NE(idx.owners(a[47]), nullptr);
  EXPECT_EQ(idx.owners(a[48]), nullptr);
  EXPECT_EQ(idx.longest_match(a).blocks, 48u);  // within 1/8 of the 50 blocks it holds
  EXPECT_EQ(idx.longest_match(std::span(a).first(47)).blocks, 40u);
}

// Touching prefixes longest first keeps the index prefix-closed under LRU eviction (checkpoint
// k remembered => checkpoints 1..k-1 remembered), which makes binary search find the true
// longest match.
TEST(PrefixIndexProperty, StaysPrefixClosedAndBinarySearchMatchesALinearScan) {
  PrefixIndex idx(500);
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20'000; ++i) {
    // Conversations grow turn by turn: a prefix of a long chain.
    const uint64_t conv = rng() % 300;
    const auto blocks = chain(conv, 1 + rng() % 60);
    const auto m = idx.longest_match(blocks);
    const size_t checkpoints = PrefixIndex::checkpoints_upto(blocks.size());
    size_t k = 0;
    while (k < checkpoints && idx.owners(blocks[PrefixIndex::checkpoint(k + 1) - 1]) != nullptr)
      ++k;
    ASSERT_EQ(m.blocks, PrefixIndex::checkpoint(k)) << "iteration " << i;
    for (size_t j = k + 1; j <= checkpoints; ++j)
      ASSERT_EQ(idx.owners(blocks[PrefixIndex::checkpoint(j) - 1]), nullptr)
          << "hole in the chain at checkpoint " << j;
    idx.record(blocks, static_cast<ReplicaSlot>(rng() % 8));
  }
}

TEST(PrefixIndex, OnHitReportsEveryProbedPrefix) {
  PrefixIndex idx(100);
  const auto a = chain(1, 16);
  idx.record(a, 1);
  idx.record(std::span(a).first(3), 2);
  std::set<size_t> lengths;
  const auto m =
      idx.longest_match(a, [&](size_t len, const PrefixIndex::Owners&) { lengths.insert(len); });
  EXPECT_EQ(m.blocks, 16u);
  EXPECT_TRUE(lengths.count(16));
  EXPECT_LE(lengths.size(), 4u);  // 12 checkpoints: ceil(log2(13)) probes
}

}  // namespace
}  // namespace gf
