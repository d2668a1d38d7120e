#include "routing/outlier_detector.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace gf {
namespace {

using std::chrono::seconds;

TEST(OutlierDetector, EjectsAfterConsecutive5xxAndReturnsAfterTheTime) {
  OutlierDetector d;  // 5 in a row, 30 s base
  OutlierState s;
  ManualClock clock;
  for (int i = 0; i < 4; ++i)
    EXPECT_FALSE(d.record(s, Outcome::kServerError, clock.now(), 0, 4).ejected);
  const auto v = d.record(s, Outcome::kServerError, clock.now(), 0, 4);
  EXPECT_TRUE(v.ejected);
  EXPECT_EQ(v.reason, "ejected for 30s after 5 consecutive 5xx or timeouts (ejection 1)");
  EXPECT_TRUE(s.ejected(clock.now()));
  clock.advance(seconds(29));
  EXPECT_TRUE(s.ejected(clock.now()));
  clock.advance(seconds(1));
  EXPECT_FALSE(s.ejected(clock.now()));
}

TEST(OutlierDetector, SuccessOr4xxResetsTheCountAndCancelIsNeutral) {
  OutlierDetector d;
  OutlierState s;
  const TimePoint t{};
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 4; ++i)
      d.record(s, Outcome::kServerError, t, 0, 4);
    d.record(s, Outcome::kCancelled, t, 0, 4);
    d.record(s, round == 0 ? Outcome::kSuccess : Outcome::kClientError, t, 0, 4);
  }
  EXPECT_FALSE(s.ejected(t));
  EXPECT_EQ(s.consecutive_5xx, 0);
}

TEST(OutlierDetector, ConnectFailuresCountSeparately) {
  OutlierConfig c;
  c.consecutive_connect_failures = 3;
  OutlierDetector d(c);
  OutlierState s;
  const TimePoint t{};
  d.record(s, Outcome::kConnectFailure, t, 0, 4);
  d.record(s, Outcome::kServerError, t, 0, 4);
  d.record(s, Outcome::kConnectFailure, t, 0, 4);
  const auto v = d.record(s, Outcome::kConnectFailure, t, 0, 4);
  EXPECT_TRUE(v.ejected);
  EXPECT_NE(v.reason.find("3 consecutive connect failures"), std::string::npos);
}

TEST(OutlierDetector, EjectionTimeGrowsWithEachEjectionUpToTheCap) {
  OutlierDetector d;  // 30 s base, 300 s max
  EXPECT_EQ(d.ejection_time(1), seconds(30));
  EXPECT_EQ(d.ejection_time(2), seconds(60));
  EXPECT_EQ(d.ejection_time(10), seconds(300));
  EXPECT_EQ(d.ejection_time(1'000'000), seconds(300));

  OutlierState s;
  ManualClock clock;
  std::vector<Duration> times;
  for (int e = 0; e < 12; ++e) {
    TimePoint start = clock.now();
    for (int i = 0; i < 5; ++i)
      d.record(s, Outcome::kServerError, clock.now(), 0, 4);
    ASSERT_TRUE(s.ejected(clock.now()));
    times.push_back(s.ejected_until - start);
    clock.set(s.ejected_until);  // fail again the moment it returns
  }
  EXPECT_EQ(times[0], seconds(30));
  EXPECT_EQ(times[1], seconds(60));
  EXPECT_EQ(times[2], seconds(90));
  EXPECT_EQ(times[11], seconds(300));
}

TEST(OutlierDetector, GoodBehaviourForgivesPastEjections) {
  OutlierDetector d;
  OutlierState s;
  ManualClock clock;
  for (int e = 0; e < 3; ++e) {
    for (int i = 0; i < 5; ++i)
      d.record(s, Outcome::kServerError, clock.now(), 0, 4);
    clock.set(s.ejected_until);
  }
  EXPECT_EQ(s.ejections, 3);
  clock.advance(seconds(65));  // two forgiveness intervals of 30 s
  d.record(s, Outcome::kSuccess, clock.now(), 0, 4);
  EXPECT_EQ(s.ejections, 1);
  for (int i = 0; i < 5; ++i)
    d.record(s, Outcome::kServerError, clock.now(), 0, 4);
  EXPECT_EQ(s.ejected_until - clock.now(), seconds(60));  // second ejection, not fourth
}

TEST(OutlierDetector, NeverEjectsMoreThanTheMaxFraction) {
  OutlierDetector d;  // 50%
  OutlierState s;
  const TimePoint t{};
  // 4 replicas, 2 already out: no more.
  for (int i = 0; i < 4; ++i)
    d.record(s, Outcome::kServerError, t, 2, 4);
  auto v = d.record(s, Outcome::kServerError, t, 2, 4);
  EXPECT_FALSE(v.ejected);
  EXPECT_EQ(v.reason,
            "5 consecutive 5xx or timeouts, not ejected: 2 of 4 replicas already ejected (max "
            "50%)");
  v = d.record(s, Outcome::kServerError, t, 2, 4);
  EXPECT_FALSE(v.ejected);
  EXPECT_TRUE(v.reason.empty());  // said once
  // One came back: the next failure ejects.
  EXPECT_TRUE(d.record(s, Outcome::kServerError, t, 1, 4).ejected);
}

TEST(OutlierDetector, ALoneReplicaIsNeverEjected) {
  OutlierDetector d;
  OutlierState s;
  for (int i = 0; i < 100; ++i)
    EXPECT_FALSE(d.record(s, Outcome::kServerError, TimePoint{}, 0, 1).ejected);
}

TEST(OutlierDetector, OutcomesWhileEjectedAreIgnored) {
  OutlierDetector d;
  OutlierState s;
  const TimePoint t{};
  for (int i = 0; i < 5; ++i)
    d.record(s, Outcome::kServerError, t, 0, 4);
  const TimePoint until = s.ejected_until;
  for (int i = 0; i < 20; ++i)
    d.record(s, Outcome::kServerError, t + seconds(1), 0, 4);  // in flight before the ejection
  EXPECT_EQ(s.ejected_until, until);
  EXPECT_EQ(s.ejections, 1);
}

TEST(OutlierDetector, ValidatesConfig) {
  EXPECT_TRUE(validate(OutlierConfig{}).ok());
  OutlierConfig c;
  c.max_ejection_time = seconds(1);
  EXPECT_FALSE(validate(c).ok());
  c = {};
  c.max_ejected_fraction = 1.5;
  EXPECT_FALSE(validate(c).ok());
  c = {};
  c.consecutive_5xx = 0;
  EXPECT_FALSE(validate(c).ok());
}

}  // namespace
}  // namespace gf
