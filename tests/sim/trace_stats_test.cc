#include "sim/trace.h"

#include <gtest/gtest.h>

namespace gf {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TraceRequest at(Duration arrival, int64_t prompt = 100, int64_t output = 10) {
  TraceRequest r;
  r.arrival = arrival;
  r.prompt = Tokens(prompt);
  r.output = Tokens(output);
  return r;
}

TEST(NearestRank, IsTheSmallestValueWithThatShareAtOrBelowIt) {
  const std::vector<int64_t> ten = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(nearest_rank(ten, 50), 5);   // rank ceil(5.0) = 5
  EXPECT_EQ(nearest_rank(ten, 99), 10);  // rank ceil(9.9) = 10
  EXPECT_EQ(nearest_rank(ten, 1), 1);
  EXPECT_EQ(nearest_rank(ten, 100), 10);
  EXPECT_EQ(nearest_rank({7}, 50), 7);
  EXPECT_EQ(nearest_rank({}, 50), 0);
  // Exactly on a rank boundary: 3 of 4 values is 75 %, so p75 is the third, not the fourth.
  EXPECT_EQ(nearest_rank({10, 20, 30, 40}, 75), 30);
}

TEST(SortByArrival, KeepsTheOrderOfEqualArrivalsAndSaysWhetherItMovedAnything) {
  std::vector<TraceRequest> sorted = {at(seconds(1)), at(seconds(2))};
  EXPECT_FALSE(sort_by_arrival(sorted));

  // Two turns of one conversation logged in the same millisecond must stay in order.
  std::vector<TraceRequest> reqs = {at(seconds(3), 1), at(seconds(1), 2), at(seconds(3), 3),
                                    at(seconds(1), 4)};
  EXPECT_TRUE(sort_by_arrival(reqs));
  std::vector<int64_t> order;
  for (const auto& r : reqs)
    order.push_back(r.prompt.value);
  EXPECT_EQ(order, (std::vector<int64_t>{2, 4, 1, 3}));
}

TEST(Summarize, CountsFullWindowsFromTheFirstArrivalOnly) {
  Trace t;
  t.name = "t";
  // 2 full 1-min windows from t=5s: [5,65) holds 3, [65,125) holds 6; the 2 at 125s and 130s
  // fall in the partial third window and do not count towards the rates.
  for (int s : {5, 6, 64})
    t.requests.push_back(at(seconds(s)));
  for (int s : {65, 70, 80, 90, 100, 124})
    t.requests.push_back(at(seconds(s)));
  for (int s : {125, 130})
    t.requests.push_back(at(seconds(s)));
  const TraceStats s = summarize(t);
  EXPECT_EQ(s.requests, 11u);
  EXPECT_EQ(s.duration, seconds(125));
  EXPECT_EQ(s.full_windows, 2);
  EXPECT_DOUBLE_EQ(s.mean_rps, (3 + 6) / 2.0 / 60.0);
  EXPECT_DOUBLE_EQ(s.peak_rps, 6 / 60.0);
}

TEST(Summarize, FallsBackToTheWholeSpanWhenShorterThanOneWindow) {
  Trace t;
  for (int ms : {0, 500, 1000, 2000})
    t.requests.push_back(at(milliseconds(ms)));
  const TraceStats s = summarize(t);
  EXPECT_EQ(s.full_windows, 0);
  EXPECT_DOUBLE_EQ(s.mean_rps, 2.0);  // 4 requests over 2 s
  EXPECT_DOUBLE_EQ(s.peak_rps, 2.0);
  EXPECT_NE(describe(t, s).find("shorter than one window"), std::string::npos);
}

TEST(Summarize, GivesTokenMeanAndNearestRankPercentiles) {
  Trace t;
  for (int i = 1; i <= 100; ++i)
    t.requests.push_back(at(seconds(i), i * 10, 101 - i));
  const TraceStats s = summarize(t);
  EXPECT_DOUBLE_EQ(s.prompt.mean, 505.0);
  EXPECT_EQ(s.prompt.p50, Tokens(500));
  EXPECT_EQ(s.prompt.p99, Tokens(990));
  EXPECT_EQ(s.prompt.max, Tokens(1000));
  EXPECT_EQ(s.output.p50, Tokens(50));
  EXPECT_EQ(s.output.p99, Tokens(99));
}

TEST(Summarize, EmptyTraceIsAllZeros) {
  const TraceStats s = summarize(Trace{});
  EXPECT_EQ(s.requests, 0u);
  EXPECT_EQ(s.mean_rps, 0.0);
}

}  // namespace
}  // namespace gf
