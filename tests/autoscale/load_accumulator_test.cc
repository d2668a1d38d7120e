// Gateway reports become per-period load: rates over the period, queues summed over gateways,
// a silent gateway dropped, nothing reported = unknown.
#include <gtest/gtest.h>

#include "autoscale/load_accumulator.h"
#include "common/clock.h"

namespace gf {
namespace {

using namespace std::chrono_literals;

TrafficReport report(std::string gateway, int64_t queued, int64_t in_flight, int64_t arrivals) {
  TrafficReport r;
  r.gateway = std::move(gateway);
  ReportedDemand d;
  d.model = "m";
  d.queued = queued;
  d.in_flight = in_flight;
  d.arrivals = arrivals;
  d.prompt_tokens = arrivals * 100;
  d.output_tokens = arrivals * 10;
  d.tpot_counts.assign(kTpotBoundsMs.size() + 1, 0);
  d.tpot_counts[tpot_bucket(20)] = static_cast<uint64_t>(arrivals);
  r.demand.push_back(d);
  return r;
}

TEST(LoadAccumulator, RatesOverThePeriodAndQueuesSummedOverGateways) {
  ManualClock clock;
  LoadAccumulator acc(5s);
  acc.take("m", clock.now());  // nothing yet: starts no period
  acc.record(report("a", 3, 4, 10), clock.now());
  clock.advance(1s);
  acc.record(report("b", 1, 2, 10), clock.now());
  clock.advance(1s);
  LoadSample s = acc.take("m", clock.now());
  ASSERT_TRUE(s.known);
  EXPECT_EQ(s.span, 2s);
  EXPECT_DOUBLE_EQ(s.arrival_rps, 10.0);  // 20 over 2 s
  EXPECT_DOUBLE_EQ(s.prompt_tps, 1000.0);
  EXPECT_DOUBLE_EQ(s.output_tps, 100.0);
  EXPECT_DOUBLE_EQ(s.queued, 4.0);
  EXPECT_DOUBLE_EQ(s.in_flight, 6.0);
  ASSERT_TRUE(s.tpot_p95_ms);
  // All in the (15, 20] ms bucket: the p95 interpolates to 95% of the way through it.
  EXPECT_DOUBLE_EQ(*s.tpot_p95_ms, 19.75);
  // The next period starts empty; the gateways' latest queues still count while fresh.
  clock.advance(1s);
  s = acc.take("m", clock.now());
  EXPECT_TRUE(s.known);
  EXPECT_DOUBLE_EQ(s.arrival_rps, 0.0);
  EXPECT_DOUBLE_EQ(s.queued, 4.0);
  EXPECT_FALSE(s.tpot_p95_ms);
}

TEST(LoadAccumulator, SilentGatewaysStopCountingAndSilenceIsUnknown) {
  ManualClock clock;
  LoadAccumulator acc(5s);
  acc.record(report("a", 3, 4, 1), clock.now());
  clock.advance(4s);
  acc.record(report("b", 1, 0, 1), clock.now());
  clock.advance(2s);  // a: 6 s old, b: 2 s
  LoadSample s = acc.take("m", clock.now());
  EXPECT_TRUE(s.known);
  EXPECT_DOUBLE_EQ(s.queued, 1.0);
  EXPECT_DOUBLE_EQ(acc.queued("m", clock.now()), 1.0);
  clock.advance(10s);
  s = acc.take("m", clock.now());
  EXPECT_FALSE(s.known);
  EXPECT_FALSE(acc.take("other", clock.now()).known);
}

// The p95 the slo policy compares with its target interpolates inside the bucket (Prometheus's
// histogram_quantile), so a p95 of about 1.1 s reads as that, not as its bucket's 2.5 s bound.
TEST(HistogramP95, InterpolatesWithinTheBucketLikeHistogramQuantile) {
  std::vector<uint64_t> counts(kTtftBoundsMs.size() + 1, 0);
  EXPECT_EQ(ttft_p95_interpolated_ms(counts), -1);
  counts[ttft_bucket(800)] = 90;   // (500, 1000]
  counts[ttft_bucket(1100)] = 10;  // (1000, 2500]
  // Rank 95 of 100: the 5th of 10 in (1000, 2500] -> 1000 + 1500 x 5/10.
  EXPECT_DOUBLE_EQ(ttft_p95_interpolated_ms(counts), 1750.0);
  EXPECT_EQ(ttft_p95_ms(counts), 2500);  // the canary's nearest-rank bound, unchanged
  // Past the last finite bound, that bound.
  std::fill(counts.begin(), counts.end(), 0);
  counts.back() = 3;
  EXPECT_DOUBLE_EQ(ttft_p95_interpolated_ms(counts), static_cast<double>(kTtftBoundsMs.back()));
  std::vector<uint64_t> tpot(kTpotBoundsMs.size() + 1, 0);
  tpot[0] = 20;  // (0, 5]
  EXPECT_DOUBLE_EQ(tpot_p95_interpolated_ms(tpot), 4.75);
}

TEST(HistogramCountedSince, AddsEachBucketsGrowthAndAllOfARestartedCounter) {
  std::vector<uint64_t> into;
  add_counted_since({1, 2, 3}, {4, 2, 5}, into);
  EXPECT_EQ(into, (std::vector<uint64_t>{3, 0, 2}));
  // A second replica's growth adds to the first's.
  add_counted_since({0, 1, 1}, {1, 1, 4}, into);
  EXPECT_EQ(into, (std::vector<uint64_t>{4, 0, 5}));
  // One bucket went down: the engine restarted, so all it counts now is new.
  add_counted_since({5, 5, 5}, {1, 6, 0}, into);
  EXPECT_EQ(into, (std::vector<uint64_t>{5, 6, 5}));
  // Another size (other bucket bounds): all of it, and `into` takes its size.
  std::vector<uint64_t> fresh;
  add_counted_since({1, 1}, {2, 3, 4}, fresh);
  EXPECT_EQ(fresh, (std::vector<uint64_t>{2, 3, 4}));
}

}  // namespace
}  // namespace gf
