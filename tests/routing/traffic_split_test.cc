#include "routing/traffic_split.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace gf {
namespace {

TEST(TrafficSplit, FivePercentCanaryGetsExactlyFiveOfEveryHundred) {
  TrafficSplit split;
  split.set_weights({95, 5});
  for (int window = 0; window < 50; ++window) {
    int canary = 0;
    for (int i = 0; i < 100; ++i)
      if (split.pick([](int) { return true; }) == 1) ++canary;
    ASSERT_EQ(canary, 5) << "window " << window;
  }
}

TEST(TrafficSplit, SmoothNotBursty) {
  TrafficSplit split;
  split.set_weights({95, 5});
  // The canary's picks are spread over the window, never two in a row.
  int last = -100;
  for (int i = 0; i < 1000; ++i)
    if (split.pick([](int) { return true; }) == 1) {
      EXPECT_GE(i - last, 15);
      last = i;
    }
}

// Property: for random weights, every window of Σw consecutive picks gives each revision exactly
// its weight, and weight-0 revisions never get a pick.
TEST(TrafficSplitProperty, ExactOverEveryAlignedWindow) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<int> w;
    const int n = 1 + static_cast<int>(rng() % 5);
    int total = 0;
    for (int i = 0; i < n; ++i) {
      w.push_back(static_cast<int>(rng() % 4 == 0 ? 0 : rng() % 100));
      total += w.back();
    }
    TrafficSplit split;
    split.set_weights(w);
    if (total == 0) {
      EXPECT_EQ(split.pick([](int) { return true; }), -1);
      continue;
    }
    for (int window = 0; window < 3; ++window) {
      std::vector<int> got(w.size(), 0);
      for (int i = 0; i < total; ++i)
        ++got[static_cast<size_t>(split.pick([](int) { return true; }))];
      ASSERT_EQ(got, w) << "trial " << trial;
    }
  }
}

TEST(TrafficSplit, UnusableRevisionsSitOutAndTheRestKeepTheirRatio) {
  TrafficSplit split;
  split.set_weights({60, 30, 10});
  std::vector<int> got(3, 0);
  for (int i = 0; i < 400; ++i)
    ++got[static_cast<size_t>(split.pick([](int r) { return r != 0; }))];
  EXPECT_EQ(got[0], 0);
  EXPECT_EQ(got[1], 300);
  EXPECT_EQ(got[2], 100);
  EXPECT_EQ(split.pick([](int) { return false; }), -1);
}

TEST(TrafficSplit, SameWeightsKeepTheCycleNewWeightsRestartIt) {
  TrafficSplit split;
  split.set_weights({1, 1});
  const int first = split.pick([](int) { return true; });
  split.set_weights({1, 1});  // a routing-table refresh without changes
  EXPECT_NE(split.pick([](int) { return true; }), first);
}

}  // namespace
}  // namespace gf
