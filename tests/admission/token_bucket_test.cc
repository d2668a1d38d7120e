#include "admission/token_bucket.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace gf {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using Kind = TokenBucket::Take::Kind;

TokenBucket make(TokenRate rate, int64_t capacity, const ManualClock& clock) {
  auto b = TokenBucket::create(rate, capacity, clock.now());
  EXPECT_TRUE(b.ok()) << b.error().describe();
  return std::move(b).value();
}

TEST(TokenBucket, TenPerSecondBurstFive) {
  ManualClock clock;
  TokenBucket b = make(TokenRate{10, seconds(1)}, 5, clock);
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(b.try_take(1, clock.now()).ok()) << i;
  auto sixth = b.try_take(1, clock.now());
  EXPECT_EQ(sixth.kind, Kind::kWait);
  EXPECT_EQ(sixth.wait, milliseconds(100));

  clock.advance(milliseconds(30));
  EXPECT_EQ(b.try_take(1, clock.now()).wait, milliseconds(70));
  EXPECT_EQ(b.time_until(1, clock.now()), milliseconds(70));
  clock.advance(milliseconds(70) - nanoseconds(1));
  EXPECT_EQ(b.try_take(1, clock.now()).wait, nanoseconds(1));
  clock.advance(nanoseconds(1));
  EXPECT_TRUE(b.try_take(1, clock.now()).ok());  // the 6th, at exactly 100 ms
  EXPECT_EQ(b.try_take(1, clock.now()).wait, milliseconds(100));
  EXPECT_EQ(b.time_until(3, clock.now()), milliseconds(300));
}

TEST(TokenBucket, RefillsToCapacityOnly) {
  ManualClock clock;
  TokenBucket b = make(TokenRate{10, seconds(1)}, 5, clock);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(b.try_take(1, clock.now()).ok());
  clock.advance(hours(24 * 365 * 100));  // a century idle: no overflow, just full
  EXPECT_EQ(b.available(clock.now()), 5);
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(b.try_take(1, clock.now()).ok());
  EXPECT_FALSE(b.try_take(1, clock.now()).ok());
}

TEST(TokenBucket, NoDriftWithRatesThatDoNotDivideTime) {
  // 3/s is one token every 333333333.33 ns: a float refill would drift, integers must not.
  ManualClock clock;
  TokenBucket b = make(TokenRate{3, seconds(1)}, 3, clock);
  for (int s = 0; s < 10000; ++s) {
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(b.try_take(1, clock.now()).ok()) << s;
    ASSERT_EQ(b.try_take(1, clock.now()).kind, Kind::kWait) << s;
    clock.advance(seconds(1));
  }
  // Empty: the first token is due after ceil(1e9 / 3) ns.
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(b.try_take(1, clock.now()).ok());
  EXPECT_EQ(b.time_until(1, clock.now()), nanoseconds(333333334));
  EXPECT_EQ(b.time_until(3, clock.now()), seconds(1));
  clock.advance(nanoseconds(333333333));
  EXPECT_EQ(b.available(clock.now()), 0);
  clock.advance(nanoseconds(1));
  EXPECT_EQ(b.available(clock.now()), 1);
}

TEST(TokenBucket, TokensPerMinute) {
  ManualClock clock;
  TokenBucket b = make(TokenRate::per_minute(1000), 1000, clock);
  EXPECT_TRUE(b.try_take(800, clock.now()).ok());
  auto t = b.try_take(500, clock.now());
  EXPECT_EQ(t.kind, Kind::kWait);
  EXPECT_EQ(t.wait, seconds(18));  // 300 missing at 1 token / 60 ms
  EXPECT_EQ(b.available(clock.now()), 200);
  clock.advance(seconds(18));
  EXPECT_TRUE(b.try_take(500, clock.now()).ok());
  EXPECT_EQ(b.available(clock.now()), 0);
}

TEST(TokenBucket, MoreThanCapacityNeverFits) {
  ManualClock clock;
  TokenBucket b = make(TokenRate::per_minute(1000), 1000, clock);
  auto t = b.try_take(1001, clock.now());
  EXPECT_EQ(t.kind, Kind::kNever);
  EXPECT_EQ(b.time_until(1001, clock.now()), Duration::max());
  EXPECT_EQ(b.available(clock.now()), 1000);  // nothing taken
  EXPECT_TRUE(b.try_take(1000, clock.now()).ok());
  EXPECT_TRUE(b.try_take(0, clock.now()).ok());
}

TEST(TokenBucket, RefundNeverExceedsCapacity) {
  ManualClock clock;
  TokenBucket b = make(TokenRate::per_minute(1000), 1000, clock);
  b.refund(500, clock.now());
  EXPECT_EQ(b.available(clock.now()), 1000);
  ASSERT_TRUE(b.try_take(900, clock.now()).ok());
  b.refund(400, clock.now());  // estimated 900, used 500
  EXPECT_EQ(b.available(clock.now()), 500);
  b.refund(int64_t{1} << 62, clock.now());  // absurd refund: capped, no overflow
  EXPECT_EQ(b.available(clock.now()), 1000);
  ASSERT_TRUE(b.try_take(1000, clock.now()).ok());
  clock.advance(seconds(30));  // +500 refilled
  b.refund(600, clock.now());
  EXPECT_EQ(b.available(clock.now()), 1000);
}

TEST(TokenBucket, ChargeGoesIntoBoundedDebt) {
  ManualClock clock;
  TokenBucket b = make(TokenRate::per_minute(1000), 1000, clock);
  ASSERT_TRUE(b.try_take(1000, clock.now()).ok());
  b.charge(300, clock.now());  // the request used 300 more than estimated
  EXPECT_EQ(b.available(clock.now()), -300);
  EXPECT_EQ(b.time_until(1, clock.now()), milliseconds(301 * 60));
  b.charge(int64_t{1} << 62, clock.now());  // floor at -capacity
  EXPECT_EQ(b.available(clock.now()), -1000);
  EXPECT_EQ(b.time_until(1000, clock.now()), minutes(2));
  clock.advance(minutes(2));
  EXPECT_TRUE(b.try_take(1000, clock.now()).ok());
}

TEST(TokenBucket, FractionalRequestsPerSecond) {
  auto rate = TokenRate::per_second(2.5);
  ASSERT_TRUE(rate.ok());
  ManualClock clock;
  TokenBucket b = make(*rate, 2, clock);
  EXPECT_TRUE(b.try_take(2, clock.now()).ok());
  EXPECT_EQ(b.try_take(1, clock.now()).wait, milliseconds(400));
  EXPECT_FALSE(TokenRate::per_second(0).ok());
  EXPECT_FALSE(TokenRate::per_second(-1).ok());
  EXPECT_FALSE(TokenRate::per_second(0.0001).ok());
  EXPECT_FALSE(TokenRate::per_second(1e12).ok());
  EXPECT_TRUE(TokenRate::per_second(0.001).ok());
}

TEST(TokenBucket, ClockGoingBackRefillsNothing) {
  ManualClock clock;
  TokenBucket b = make(TokenRate{10, seconds(1)}, 1, clock);
  ASSERT_TRUE(b.try_take(1, clock.now()).ok());
  EXPECT_EQ(b.time_until(1, clock.now() - seconds(5)), milliseconds(100));
  clock.advance(milliseconds(100));
  EXPECT_TRUE(b.try_take(1, clock.now()).ok());
}

TEST(TokenBucket, RefusesBadParameters) {
  const TimePoint now{};
  EXPECT_FALSE(TokenBucket::create(TokenRate{0, seconds(1)}, 5, now).ok());
  EXPECT_FALSE(TokenBucket::create(TokenRate{1, Duration::zero()}, 5, now).ok());
  EXPECT_FALSE(TokenBucket::create(TokenRate{1, seconds(1)}, 0, now).ok());
  // 7 per hour: one unit is 3600e9/7... scaled; a huge capacity cannot be counted exactly.
  auto huge = TokenBucket::create(TokenRate{7, hours(1)}, int64_t{1} << 50, now);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.error().message.find("too large"), std::string::npos);
  // Realistic sizes are fine: 100M tokens/min with a minute's burst.
  EXPECT_TRUE(TokenBucket::create(TokenRate::per_minute(100'000'000), 100'000'000, now).ok());
}

}  // namespace
}  // namespace gf
