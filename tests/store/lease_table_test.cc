// LeaseTable: deadlines move with keepalives and expire at exactly ttl, soonest first.
#include "store/lease_table.h"

#include <gtest/gtest.h>

namespace gf {
namespace {

using std::chrono::seconds;

TEST(LeaseTable, ExpiresAtTheDeadlineSoonestFirst) {
  TimePoint t0(seconds(100));
  LeaseTable table;
  table.add(1, seconds(10), t0);
  table.add(2, seconds(5), t0);
  table.add(3, seconds(20), t0);
  EXPECT_TRUE(table.expired(t0 + seconds(5) - Duration(1)).empty());
  EXPECT_EQ(table.expired(t0 + seconds(5)), std::vector<LeaseId>{2});
  EXPECT_EQ(table.expired(t0 + seconds(10)), (std::vector<LeaseId>{2, 1}));
  EXPECT_EQ(table.remaining(3, t0 + seconds(15)), seconds(5));
  EXPECT_EQ(table.remaining(2, t0 + seconds(15)), Duration(0));
  EXPECT_EQ(table.remaining(9, t0), std::nullopt);
}

TEST(LeaseTable, RefreshRestartsTheTtl) {
  TimePoint t0(seconds(0));
  LeaseTable table;
  table.add(7, seconds(10), t0);
  ASSERT_TRUE(table.refresh(7, t0 + seconds(8)));
  EXPECT_TRUE(table.expired(t0 + seconds(17)).empty());
  EXPECT_EQ(table.expired(t0 + seconds(18)), std::vector<LeaseId>{7});
  EXPECT_FALSE(table.refresh(8, t0));
  table.remove(7);
  EXPECT_FALSE(table.contains(7));
  EXPECT_TRUE(table.expired(t0 + seconds(100)).empty());
  EXPECT_EQ(table.size(), 0u);
}

}  // namespace
}  // namespace gf
