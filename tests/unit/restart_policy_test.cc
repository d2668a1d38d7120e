#include "agent/restart_policy.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace gf {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

TEST(RestartPolicy, BacksOffExponentiallyUpToTheCap) {
  ManualClock clock;
  RestartPolicy p;
  std::vector<Duration> waits;
  for (int i = 0; i < 12; ++i) {
    p.started(clock.now());
    clock.advance(seconds(1));
    waits.push_back(p.exited(clock.now(), 0.5));  // 0.5 = no jitter
  }
  EXPECT_EQ(waits[0], seconds(1));
  EXPECT_EQ(waits[1], seconds(2));
  EXPECT_EQ(waits[4], seconds(16));
  EXPECT_EQ(waits[11], minutes(5));
}

TEST(RestartPolicy, JitterStaysWithinItsBand) {
  ManualClock clock;
  for (double u : {0.0, 0.25, 0.999}) {
    RestartPolicy p;
    p.started(clock.now());
    Duration d = p.exited(clock.now(), u);
    EXPECT_GE(d, std::chrono::milliseconds(800));
    EXPECT_LE(d, std::chrono::milliseconds(1200));
  }
}

TEST(RestartPolicy, DetectsCrashLoopsAndForgivesStableRuns) {
  ManualClock clock;
  RestartPolicy p;
  for (int i = 0; i < 4; ++i) {
    p.started(clock.now());
    clock.advance(seconds(10));
    p.exited(clock.now(), 0.5);
    EXPECT_FALSE(p.crash_looping()) << i;
  }
  p.started(clock.now());
  clock.advance(seconds(10));
  p.exited(clock.now(), 0.5);
  EXPECT_TRUE(p.crash_looping());
  // A run longer than stable_after resets the backoff; old exits age out of the window.
  p.started(clock.now());
  clock.advance(minutes(11));
  EXPECT_EQ(p.exited(clock.now(), 0.5), seconds(1));
  EXPECT_EQ(p.consecutive_failures(), 1);
  EXPECT_FALSE(p.crash_looping());
}

}  // namespace
}  // namespace gf
