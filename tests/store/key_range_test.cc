// KeyRange and prefix_end: etcd's (key, range_end) encoding and its byte-order edge cases.
#include "store/key_range.h"

#include <gtest/gtest.h>

namespace gf {
namespace {

TEST(PrefixEnd, IncrementsTheLastByteThatCan) {
  EXPECT_EQ(prefix_end("a/"), "a0");
  EXPECT_EQ(prefix_end("a"), "b");
  EXPECT_EQ(prefix_end("a\xff"), "b");
  EXPECT_EQ(prefix_end("a\xff\xff"), "b");
  EXPECT_EQ(prefix_end(std::string("a\x7f", 2)), std::string("a\x80", 2));
  // Nothing to increment: no upper bound.
  EXPECT_EQ(prefix_end(""), std::string(1, '\0'));
  EXPECT_EQ(prefix_end("\xff\xff"), std::string(1, '\0'));
}

TEST(KeyRange, ContainsFollowsEtcdEncoding) {
  auto single = KeyRange::single("k");
  EXPECT_TRUE(single.is_single());
  EXPECT_TRUE(single.contains("k"));
  EXPECT_FALSE(single.contains("k0"));
  EXPECT_EQ(single.end_key(), std::string("k\0", 2));

  auto prefix = KeyRange::prefix("a/");
  EXPECT_TRUE(prefix.contains("a/"));
  EXPECT_TRUE(prefix.contains("a/\xff\xff"));
  EXPECT_FALSE(prefix.contains("a0"));
  EXPECT_FALSE(prefix.contains("a"));

  auto all = KeyRange::prefix("");
  EXPECT_TRUE(all.is_unbounded());
  EXPECT_TRUE(all.contains("\xff"));

  auto from = KeyRange::from("m");
  EXPECT_TRUE(from.is_unbounded());
  EXPECT_FALSE(from.contains("l"));
  EXPECT_TRUE(from.contains("zzz"));

  // Bytes order as unsigned: 0x80 sorts after 'z'.
  auto between = KeyRange::between("a", "z");
  EXPECT_TRUE(between.contains("y"));
  EXPECT_FALSE(between.contains("\x80"));
  EXPECT_FALSE(between.contains("z"));
}

}  // namespace
}  // namespace gf
