#include "common/prefix_hash.h"

#include <gtest/gtest.h>

#include <string>

namespace gf {
namespace {

PrefixHashConfig small(int64_t block, int max_blocks) {
  PrefixHashConfig c;
  c.block_size = Bytes(block);
  c.max_blocks = max_blocks;
  return c;
}

TEST(PrefixHash, FullBlocksOnlyUpToTheMaximum) {
  const auto c = small(16, 4);
  EXPECT_TRUE(prefix_block_hashes(std::string(15, 'a'), c).empty());
  EXPECT_EQ(prefix_block_hashes(std::string(16, 'a'), c).size(), 1u);
  EXPECT_EQ(prefix_block_hashes(std::string(47, 'a'), c).size(), 2u);  // partial third left out
  EXPECT_EQ(prefix_block_hashes(std::string(1000, 'a'), c).size(), 4u);
}

TEST(PrefixHash, ChainedSoEqualHashesMeanEqualPrefixes) {
  const auto c = small(16, 8);
  // Same second block, different first block: the second hashes differ too.
  const std::string a = std::string(16, 'a') + std::string(16, 'z');
  const std::string b = std::string(16, 'b') + std::string(16, 'z');
  const auto ha = prefix_block_hashes(a, c);
  const auto hb = prefix_block_hashes(b, c);
  ASSERT_EQ(ha.size(), 2u);
  EXPECT_NE(ha[1], hb[1]);
  // A conversation's next turn shares every full block of the previous turn.
  const std::string turn1 = std::string(40, 's') + "user: hi";
  const std::string turn2 = turn1 + " assistant: hello! user: how are you?";
  const auto h1 = prefix_block_hashes(turn1, c);
  const auto h2 = prefix_block_hashes(turn2, c);
  ASSERT_EQ(h1.size(), 3u);
  ASSERT_GT(h2.size(), h1.size());
  for (size_t i = 0; i < h1.size(); ++i)
    EXPECT_EQ(h1[i], h2[i]);
  // Identical blocks at different depths differ: block i's hash covers blocks 0..i.
  const auto same = prefix_block_hashes(std::string(48, 'q'), c);
  EXPECT_NE(same[0], same[1]);
  EXPECT_NE(same[1], same[2]);
}

// XXH3-64 of each block seeded with the previous block's hash, from the xxHash specification: the
// same on every machine, so gateways and engines anywhere key a prompt alike.
TEST(PrefixHash, PinsChainedXxh3) {
  const auto h = prefix_block_hashes(std::string(16, 'a') + std::string(16, 'b'), small(16, 4));
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0], 0x13ba5039476cd10aULL);
  EXPECT_EQ(h[1], 0x0608d220a0a660f3ULL);
}

TEST(PrefixHash, SeedChangesEveryHash) {
  auto c = small(16, 4);
  const auto a = prefix_block_hashes(std::string(64, 'a'), c);
  c.seed = 7;
  const auto b = prefix_block_hashes(std::string(64, 'a'), c);
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_NE(a[i], b[i]);
}

TEST(PrefixHash, BufferVariantReusesTheVector) {
  const auto c = small(16, 4);
  std::vector<uint64_t> out = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(prefix_block_hashes(std::string(40, 'a'), c, out), 2u);
  EXPECT_EQ(out, prefix_block_hashes(std::string(40, 'a'), c));
}

TEST(PrefixHash, ValidatesConfig) {
  EXPECT_TRUE(validate(PrefixHashConfig{}).ok());
  const Status tiny = validate(small(8, 4));
  ASSERT_FALSE(tiny.ok());
  EXPECT_NE(tiny.error().message.find("at least 16 bytes"), std::string::npos);
  EXPECT_FALSE(validate(small(512, 0)).ok());
}

}  // namespace
}  // namespace gf
