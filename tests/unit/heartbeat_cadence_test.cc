// The agent's heartbeat cadence (agent/heartbeat_cadence.h): kept from its own sends, so that
// replies delayed together by a busy controller do not bunch the next heartbeats into one burst.
#include "agent/heartbeat_cadence.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace gf {
namespace {

using namespace std::chrono_literals;

TEST(HeartbeatCadence, TheNextBeatFollowsTheLastSendWithinTheJitter) {
  const TimePoint sent{10s};
  const Duration every = 1s;
  EXPECT_EQ(next_heartbeat(sent, every, sent + 5ms, 0.5), sent + every);
  EXPECT_EQ(next_heartbeat(sent, every, sent + 5ms, 0.0), sent + 950ms);
  EXPECT_EQ(next_heartbeat(sent, every, sent + 5ms, 1.0), sent + 1050ms);
  // A draw outside [0, 1) is clamped: never more than the jitter.
  EXPECT_EQ(next_heartbeat(sent, every, sent + 5ms, 7.0), sent + 1050ms);
}

TEST(HeartbeatCadence, AnOverdueBeatGoesOutNowAndOnlyOnce) {
  const TimePoint sent{10s};
  // The reply took 3 intervals: the next beat is now, not three beats in a row.
  EXPECT_EQ(next_heartbeat(sent, 1s, sent + 3s, 0.5), sent + 3s);
}

// Agents spread over one interval, then a controller pause delays every reply to the same moment.
// Waiting an interval from the reply (the old rule) would send all next beats at once; the
// cadence keeps them as spread as they were.
TEST(HeartbeatCadence, RepliesDelayedTogetherDoNotBunchTheNextBeats) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const Duration every = 1s;
  std::vector<TimePoint> sent;
  for (int i = 0; i < 1000; ++i)
    sent.push_back(TimePoint{} + std::chrono::microseconds(i * 1000));  // over [0, 1 s)
  const TimePoint stall_end = TimePoint{} + 990ms;                      // every reply arrives here
  std::vector<TimePoint> next, old_rule;
  for (TimePoint s : sent) {
    next.push_back(next_heartbeat(s, every, stall_end, u(rng)));
    old_rule.push_back(stall_end + every);
  }
  auto spread = [](const std::vector<TimePoint>& v) {
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    return *hi - *lo;
  };
  EXPECT_EQ(spread(old_rule), Duration(0));
  EXPECT_GE(spread(next), 900ms);
  // And no more than 1% of them in any 10 ms (the old rule: all of them).
  std::sort(next.begin(), next.end());
  size_t worst = 0;
  for (size_t i = 0, j = 0; i < next.size(); ++i) {
    while (next[i] - next[j] >= 10ms)
      ++j;
    worst = std::max(worst, i - j + 1);
  }
  EXPECT_LE(worst, 30u) << "beats bunched in one 10 ms window";
}

}  // namespace
}  // namespace gf
