// The slo policy: seeded by the perf model, it learns per GPU model the highest load per replica
// at which the SLO held, backs off when it breaks, and sizes the deployment with headroom.
#include <gtest/gtest.h>

#include "autoscale/slo_policy.h"
#include "common/clock.h"
#include "common/traffic_report.h"
#include "common/vllm_buckets.h"

namespace gf {
namespace {

using namespace std::chrono_literals;

class SloPolicyTest : public ::testing::Test {
 protected:
  SloPolicyTest() : history(10min) {
    spec.policy = "slo";
    spec.slo_ttft = 500ms;
    spec.slo_tpot = 50ms;
    spec.window = 1s;  // size on the newest period only, to read the arithmetic plainly
  }

  Recommendation period(double rps, int ready, double ttft_ms, double tpot_ms,
                        std::optional<double> seed, double queued = 0,
                        const char* gpu = "A100-80GB") {
    clock.advance(1s);
    LoadSample s;
    s.at = clock.now();
    s.span = 1s;
    s.known = true;
    s.arrival_rps = rps;
    s.queued = queued;
    s.engine_waiting = engine_waiting;
    s.ready = ready;
    s.ttft_p95_ms = ttft_ms;
    s.tpot_p95_ms = tpot_ms;
    // 20 answers, all in the buckets of these latencies: enough for the policy to judge.
    if (ttft_ms > 0) {
      s.ttft_counts.assign(kTtftBoundsMs.size() + 1, 0);
      s.ttft_counts[ttft_bucket(static_cast<int64_t>(ttft_ms))] = 20;
      s.tpot_counts.assign(kTpotBoundsMs.size() + 1, 0);
      s.tpot_counts[tpot_bucket(static_cast<int64_t>(tpot_ms))] = 20;
    }
    if (queue_ms) {
      // The engines report their queue time as an agent reads vLLM's (its buckets start at 0.3 s:
      // no wait at all reads as up to 500 ms), and their TTFT: the gateways' unless set apart.
      s.engine_queue_counts.assign(kTtftBoundsMs.size() + 1, 0);
      s.engine_queue_counts[vllm_request_latency_bucket(*queue_ms)] = queue_answers;
      s.engine_ttft_counts = s.ttft_counts;
      if (engine_ttft_ms) {
        s.engine_ttft_counts.assign(kTtftBoundsMs.size() + 1, 0);
        s.engine_ttft_counts[ttft_bucket(static_cast<int64_t>(*engine_ttft_ms))] = 20;
      }
    }
    history.add(s);
    return policy.recommend(
        PolicyInput{spec, history, ready, clock.now(), std::nullopt, std::nullopt, seed, gpu});
  }

  // One held period, then three misses (TTFT p95 ~900 ms at 8 per replica) with the engines'
  // queue growing: a back-off, unless something says the misses are no capacity.
  void hold_then_miss(double tpot_ms = 20, double gateway_queued = 0) {
    period(10, 2, 100, 20, 10.0);
    for (int i = 1; i <= 3; ++i) {
      engine_waiting = 2 * i;
      period(16, 2, 900, tpot_ms, 10.0, gateway_queued);
    }
  }

  AutoscalingSpec spec;
  SignalHistory history;
  SloPolicy policy;
  ManualClock clock;
  std::optional<int> engine_waiting;     // the engines' queue, when they report it
  std::optional<double> queue_ms;        // their requests' queue time, when they report it
  uint64_t queue_answers = 20;           // how many queue times a period
  std::optional<double> engine_ttft_ms;  // the engines' own TTFT, when not the gateways'
};

TEST_F(SloPolicyTest, SizesFromTheSeedWithHeadroom) {
  // 10 req/s per replica believed; 0.9 of it usable: 27 req/s needs ceil(27 / 9) = 3.
  Recommendation r = period(27, 3, 100, 20, 10.0);  // 9 per replica: nothing new learned
  EXPECT_EQ(r.replicas, 3) << r.reason;
  EXPECT_EQ(r.rule, "capacity");
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 10.0);
}

TEST_F(SloPolicyTest, LearnsMoreCapacityWhereTheSloHeld) {
  period(10, 1, 100, 20, 10.0);
  // 15 req/s on one replica and the SLO held: a replica takes at least 15.
  period(15, 1, 200, 30, 10.0);
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 15.0);
  Recommendation r = period(27, 2, 200, 30, 10.0);  // 13.5 per replica: held, below 15
  EXPECT_EQ(r.replicas, 2) << r.reason;             // ceil(27 / 13.5) = 2
}

TEST_F(SloPolicyTest, BacksOffWhenTheSloBreaksAndAddsAReplicaWithAQueue) {
  period(10, 2, 100, 20, 10.0);
  // 8 req/s per replica and TTFT p95 at 900 ms: with requests waiting the policy asks for one
  // more at once, before its arithmetic does.
  Recommendation r = period(16, 2, 900, 20, 10.0, 5);
  EXPECT_GE(r.replicas, 3) << r.reason;
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 10.0) << "one missed second is not a capacity";
  period(16, 2, 900, 20, 10.0, 5);
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 10.0);
  // Missed three periods in a row: the belief drops under the 8 per replica that broke it.
  period(16, 2, 900, 20, 10.0, 5);
  EXPECT_NEAR(*policy.capacity("A100-80GB"), 7.2, 1e-9);
  // A disaster never drags the belief under a quarter of the seed (once the SLO's last hold, at 5
  // per replica, is older than the policy remembers: a miss below it would not count).
  clock.advance(6min);
  for (int i = 0; i < 3; ++i)
    period(0.4, 2, 5000, 200, 10.0, 3);
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 2.5);
}

TEST_F(SloPolicyTest, MissesWhereTheSloHeldLatelyAreNoCapacity) {
  // Held at 8 per replica; then missed, again and again, at 6, 4 and 2 per replica as replicas
  // are added: prompts too long for the TTFT target whatever the count. Backing off each time
  // would add replicas without end; the belief stays (even with requests waiting).
  period(16, 2, 100, 20, 10.0);
  for (int ready : {3, 4, 8}) {
    for (int i = 0; i < 5; ++i)
      period(16, ready, 900, 20, 10.0, 4);
    EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 10.0) << ready << " replicas";
  }
  // Missed above where it held: that is a capacity, and the belief drops under it.
  for (int i = 0; i < 3; ++i)
    period(18, 2, 900, 20, 10.0, 4);
  EXPECT_NEAR(*policy.capacity("A100-80GB"), 8.1, 1e-9);
}

// TTFT misses are a capacity only while requests pile up. Requests routed before a scale-up wait
// in the engines they went to and miss long after the fleet has enough replicas; backing off on
// them lowered the belief again and again (on the Mooncake trace, down to a tenth of a replica's
// real capacity, and the deployment to replicas.max).
TEST_F(SloPolicyTest, TtftMissesWhileTheBacklogDrainsOrWithNothingWaitingAreNoCapacity) {
  spec.window = 5s;
  engine_waiting = 0;  // the engines report their queue (empty): the gateways' is all there is
  for (int i = 0; i < 5; ++i)
    period(10, 2, 100, 20, 10.0, 20);  // held, with a backlog
  // Missing, with fewer and fewer waiting: the backlog drains; the belief stays.
  for (double waiting : {16.0, 12.0, 8.0, 4.0, 2.0})
    period(16, 2, 900, 20, 10.0, waiting);
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 10.0);
  // Missing with nothing waiting: no replica count would prefill these faster.
  for (int i = 0; i < 5; ++i)
    period(16, 2, 900, 20, 10.0, 0);
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 10.0);
  // Missing while the queue grows: too few replicas. One such period is no run yet; the third in
  // a row drops the belief under the 8 per replica that broke it.
  period(16, 2, 900, 20, 10.0, 2);
  period(16, 2, 900, 20, 10.0, 4);
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 10.0);
  period(16, 2, 900, 20, 10.0, 6);
  EXPECT_NEAR(*policy.capacity("A100-80GB"), 7.2, 1e-9);
}

// More replicas shorten the wait for a place in a batch, not a prefill: a late first token whose
// engines' queue time does not account for the lateness is a long prompt's own prefill, even
// with requests piling up behind it, and teaches nothing. On the Mooncake trace such misses drove
// the belief down in the warm-up and the deployment to twice the replicas `target/work` holds.
TEST_F(SloPolicyTest, ALateFirstTokenItsQueueTimeDoesNotExplainIsNoCapacity) {
  spec.window = 5s;
  spec.slo_ttft = 2s;  // vLLM's queue buckets blur the first 500 ms: a target they can judge
  engine_waiting = 0;
  queue_ms = 30;
  period(10, 2, 100, 20, 10.0);
  // TTFT p95 ~4.9 s against 2 s, requests piling up in the engines, 30 ms in their queues (read
  // as up to 500 ms): prefill, not waiting. The belief stays however long it lasts.
  for (int waiting = 2; waiting <= 12; waiting += 2) {
    engine_waiting = waiting;
    period(16, 2, 4000, 20, 10.0);
  }
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 10.0);
  // The same misses with 3 s in the queues: the wait is the lateness, and the third such period
  // in a row drops the belief under the 8 per replica that broke it.
  queue_ms = 3000;
  for (int i = 0; i < 2; ++i) {
    engine_waiting = *engine_waiting + 2;
    period(16, 2, 4000, 20, 10.0);
  }
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 10.0);
  engine_waiting = *engine_waiting + 2;
  period(16, 2, 4000, 20, 10.0);
  // 0.9 x the load per replica over the window and the TTFT p95 (~9.9 s): the held period's 5
  // and nine misses' 8.
  EXPECT_NEAR(*policy.capacity("A100-80GB"), 0.9 * (5 + 9 * 8) / 10.0, 1e-9);
}

// The subtraction is the engines' own: their TTFT less their queue time. A late first token at
// the gateways (4.9 s) whose engines answered in under a second, 30 ms of it queued, was late
// before the engines (network, a gateway): not a long prefill, so it counts.
TEST_F(SloPolicyTest, TheEnginesOwnTtftIsWhatTheQueueTimeIsSubtractedFrom) {
  spec.window = 5s;
  spec.slo_ttft = 2s;
  queue_ms = 30;
  engine_ttft_ms = 600;
  period(10, 2, 100, 20, 10.0);
  for (int i = 1; i <= 3; ++i) {
    engine_waiting = 2 * i;
    period(16, 2, 4000, 20, 10.0);
  }
  EXPECT_LT(*policy.capacity("A100-80GB"), 8.0);
}

// A gateway that held requests anywhere in the span the late answers spent (not only in the
// newest period) makes the miss a wait the engines could not see: it counts.
TEST_F(SloPolicyTest, AGatewayQueueAnywhereInTheSpanCounts) {
  spec.window = 5s;
  spec.slo_ttft = 2s;
  queue_ms = 30;
  period(10, 2, 100, 20, 10.0);
  for (int i = 1; i <= 3; ++i) {
    engine_waiting = 3 * i;
    period(16, 2, 4000, 20, 10.0, i == 1 ? 5 : 0);  // the gateway's queue emptied after one
  }
  EXPECT_LT(*policy.capacity("A100-80GB"), 8.0);
}

// Periods with no replica Ready carried nothing per replica: left out of the load a miss is
// judged against, rather than counted as zero (which would drag the belief to its floor after
// a scale from zero).
TEST_F(SloPolicyTest, PeriodsWithNoReplicaReadyAreNotZeroLoad) {
  spec.window = 5s;
  period(10, 2, 100, 20, 10.0);
  for (int i = 0; i < 5; ++i)
    period(16, 0, 0, 0, 10.0);  // demand and nothing Ready, nothing answered
  for (int i = 0; i < 3; ++i)
    period(16, 2, 4000, 20, 10.0);
  // 0.9 x the mean over the span's periods with replicas Ready: (5 + 3 x 8) / 4.
  EXPECT_NEAR(*policy.capacity("A100-80GB"), 0.9 * 7.25, 1e-9);
}

// The rule reads the queue time only where it can judge: with TPOT missed as well (a replica too
// busy to decode in time), or with fewer than 20 queue times in the window, every miss counts.
TEST_F(SloPolicyTest, ATpotMissLeavesEveryMissCounting) {
  spec.window = 5s;
  queue_ms = 30;
  hold_then_miss(80);  // TPOT 80 ms against 50
  EXPECT_NEAR(*policy.capacity("A100-80GB"), 0.9 * 7.25, 1e-9);
}

TEST_F(SloPolicyTest, TooFewQueueTimesToJudgeLeaveEveryMissCounting) {
  spec.window = 1s;  // one period's: 19 queue times
  queue_ms = 30;
  queue_answers = 19;
  hold_then_miss();
  EXPECT_NEAR(*policy.capacity("A100-80GB"), 7.2, 1e-9);
}

// Requests waiting in a gateway wait where the engines' queue time does not see them: those
// misses count whatever the engines say.
TEST_F(SloPolicyTest, MissesWithRequestsWaitingInAGatewayCountWhateverTheEnginesQueueTime) {
  spec.window = 5s;
  queue_ms = 30;
  hold_then_miss(20, 5);
  // 0.9 x the window's mean load per replica: (5 + 3 x 8) / 4.
  EXPECT_NEAR(*policy.capacity("A100-80GB"), 0.9 * 7.25, 1e-9);
}

// A late answer arrived up to its TTFT before it: a miss is judged against the load per replica
// since then. The misses of a backlog built while one replica carried the load, still draining
// after three more came, are not a capacity of four; a miss whose own wait is short, at that
// load, is.
TEST_F(SloPolicyTest, AMissIsJudgedAgainstTheLoadTheLateRequestsMet) {
  spec.window = 5s;
  for (int i = 0; i < 20; ++i)
    period(16, 1, 20000, 20, 10.0);  // 16 per replica, above the belief: no news
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 10.0);
  for (int i = 0; i < 5; ++i)
    period(16, 4, 20000, 20, 10.0);  // 4 per replica now, the backlog's answers still 20 s late
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 10.0) << "over 5 s alone: 4 per replica";
  // Then late by their own wait at 4 per replica: a capacity, once the window's answers are
  // theirs alone (its TTFT p95 still reaches back into the backlog until then).
  for (int i = 0; i < 6; ++i)
    period(16, 4, 900, 20, 10.0);
  EXPECT_NEAR(*policy.capacity("A100-80GB"), 0.9 * 4, 1e-9);
}

// Where the engines do not report their queue, the gateways' alone cannot tell a draining backlog
// from a growing one: every miss counts, as before the backlog rule.
TEST_F(SloPolicyTest, WithoutTheEnginesQueueEveryMissCounts) {
  period(10, 2, 100, 20, 10.0);
  for (int i = 0; i < 3; ++i)
    period(16, 2, 900, 20, 10.0, 0);  // TTFT missed, nothing in the gateways' queue
  EXPECT_NEAR(*policy.capacity("A100-80GB"), 7.2, 1e-9);
}

// What experience teaches is a share of the perf model's figure, which follows request sizes: a
// replica found to carry 1.5x the figure for short requests is believed to carry 1.5x the figure
// for long ones, not the short ones' requests/s (on the Mooncake trace a seed priced on the
// warm-up's first requests was 4x what a replica took of the hour's).
TEST_F(SloPolicyTest, WhatItLearnsFollowsThePerfModelAcrossRequestSizes) {
  period(10, 1, 100, 20, 10.0);
  period(15, 1, 200, 30, 10.0);  // held at 15 where the model said 10
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 15.0);
  // Prompts four times as long: the model now says 2.5 req/s per replica.
  Recommendation r = period(5, 2, 200, 30, 2.5);  // 2.5 per replica: held, under 1.5 x 2.5
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 3.75);
  EXPECT_EQ(r.replicas, 2) << r.reason;  // ceil(5 / (3.75 x 0.9)) = 2
  // And a back-off learned there is a share too (once the hold at 1.5x is older than the policy
  // remembers): missed at 3 per replica, 1.2x the figure, with requests piling up.
  clock.advance(6min);
  for (int i = 0; i < 3; ++i)
    period(6, 2, 900, 20, 2.5, 5);
  EXPECT_NEAR(*policy.capacity("A100-80GB"), 2.7, 1e-9);   // 0.9 x 1.2 x 2.5
  period(8, 2, 100, 20, 10.0);                             // short requests again
  EXPECT_NEAR(*policy.capacity("A100-80GB"), 10.8, 1e-9);  // 1.08 x 10
}

// A belief learned without a perf-model figure (the load one replica carried) becomes a share of
// the figure once there is one: the same requests/s at the moment it converts, and the same
// share of it after.
TEST_F(SloPolicyTest, ABeliefLearnedWithoutAFigureBecomesAShareOfIt) {
  period(6, 2, 100, 20, std::nullopt);  // seeded at 3 req/s per replica, no figure
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 3.0);
  period(6, 2, 100, 20, 12.0);  // a figure of 12: the belief is a quarter of it
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 3.0);
  period(6, 2, 100, 20, 24.0);  // sizes halve: a quarter of the new figure
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 6.0);
}

// With no figure for a window (the perf model says nothing fits at its sizes, or nothing
// arrived), a relative belief neither learns nor moves: a share of the last figure would misjudge
// the window's load. It still sizes, on the last figure, and still adds a replica on a miss.
TEST_F(SloPolicyTest, AWindowWithoutAFigureTeachesNothing) {
  period(10, 1, 100, 20, 10.0);
  for (int i = 0; i < 4; ++i) {
    Recommendation r = period(16, 2, 900, 20, std::nullopt, 5);  // missed, requests piling up
    EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 10.0) << i;
    EXPECT_EQ(r.rule, "slo violated") << r.reason;
    EXPECT_EQ(r.replicas, 3) << r.reason;
  }
  period(30, 2, 100, 20, std::nullopt);  // held at 15 per replica: nor does it learn up
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 10.0);
}

// Each GPU model keeps its own record of where the SLO held: a recent hold on one does not stop
// the other from backing off.
TEST_F(SloPolicyTest, EachGpuModelKeepsItsOwnHolds) {
  period(16, 1, 100, 20, 20.0, 0, "H100-80GB");  // H100s held at 0.8 of their figure
  period(10, 2, 100, 20, 10.0);                  // A100s held at 0.5 of theirs
  for (int i = 0; i < 3; ++i)
    period(16, 2, 900, 20, 10.0, 5);  // A100s miss at 0.8, requests piling up: above their hold
  EXPECT_NEAR(*policy.capacity("A100-80GB"), 7.2, 1e-9);
  EXPECT_DOUBLE_EQ(*policy.capacity("H100-80GB"), 20.0);
}

TEST_F(SloPolicyTest, WithoutASeedItHoldsUntilRequestsAreServed) {
  Recommendation r = period(0, 1, 0, 0, std::nullopt);
  EXPECT_EQ(r.replicas, 1);
  EXPECT_EQ(r.rule, "learning");
  EXPECT_FALSE(policy.capacity("A100-80GB"));
}

}  // namespace
}  // namespace gf

namespace gf {
namespace {

// The SLO is judged over the window's answers merged; a window with a handful of slow answers
// says nothing about a p95, so it neither raises nor lowers the belief.
TEST(SloPolicyJudgement, AFewSlowAnswersAreNoVerdict) {
  using namespace std::chrono_literals;
  AutoscalingSpec spec;
  spec.policy = "slo";
  spec.slo_ttft = 500ms;
  spec.window = 10s;
  SignalHistory history(10min);
  SloPolicy policy;
  ManualClock clock;
  // One period: 2 req/s on one replica, and 2 answers, both slow (3 s against a 500 ms target).
  const auto slow_period = [&] {
    clock.advance(1s);
    LoadSample s;
    s.at = clock.now();
    s.span = 1s;
    s.known = true;
    s.arrival_rps = 2;
    s.ready = 1;
    s.queued = 3;  // and requests waiting: a miss then is a capacity
    s.ttft_counts.assign(kTtftBoundsMs.size() + 1, 0);
    s.ttft_counts[ttft_bucket(3000)] = 2;
    history.add(s);
    policy.recommend(
        PolicyInput{spec, history, 1, clock.now(), std::nullopt, std::nullopt, 10.0, "A100-80GB"});
  };
  for (int i = 0; i < 8; ++i)
    slow_period();  // 16 slow answers in all: under the 20 needed
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 10.0);
  // Two more such periods make 20 in the window, all slow: three judged misses in a row later,
  // the belief drops to 0.9 x the 2 req/s per replica that broke it (its floor is 2.5).
  for (int i = 0; i < 4; ++i)
    slow_period();
  EXPECT_DOUBLE_EQ(*policy.capacity("A100-80GB"), 2.5);
}

}  // namespace
}  // namespace gf
