#include "pool/health_policy.h"

#include <gtest/gtest.h>

#include <random>

#include "common/clock.h"
#include "pool/pool.h"

namespace gf {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

HealthSample temp(int c) {
  return HealthSample{c, std::nullopt, std::nullopt, false};
}

class HealthPolicyTest : public ::testing::Test {
 protected:
  // Feeds a sample one second after the last; returns the transition's target, if any.
  std::optional<Health> feed(const HealthSample& s) {
    clock.advance(seconds(1));
    auto t = policy.observe("gpu-0", s, clock.now());
    if (!t) return std::nullopt;
    EXPECT_TRUE(health_transition_allowed(t->from, t->to))
        << to_string(t->from) << "->" << to_string(t->to);
    reasons.push_back(t->reason);
    return t->to;
  }
  ManualClock clock;
  HealthPolicy policy;
  std::vector<std::string> reasons;
};

TEST_F(HealthPolicyTest, OverheatGoesSuspectThenFaultyAndRecoversThroughProbation) {
  EXPECT_EQ(feed(temp(90)), Health::kSuspect);
  EXPECT_EQ(feed(temp(91)), std::nullopt);
  EXPECT_EQ(feed(temp(92)), Health::kFaulty);
  EXPECT_EQ(reasons.back(), "overheat: 92°C >= 85°C for 3 samples");
  // 82°C is under the limit but inside the hysteresis band: not cool.
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(feed(temp(82)), std::nullopt);
  for (int i = 0; i < 9; ++i)
    EXPECT_EQ(feed(temp(70)), std::nullopt);
  EXPECT_EQ(feed(temp(70)), Health::kProbation);
  for (int i = 0; i < 299; ++i)
    ASSERT_EQ(feed(temp(70)), std::nullopt) << i;
  EXPECT_EQ(feed(temp(70)), Health::kHealthy);
}

TEST_F(HealthPolicyTest, ASingleHotSampleOnlyWarns) {
  EXPECT_EQ(feed(temp(88)), Health::kSuspect);
  EXPECT_EQ(feed(temp(60)), Health::kHealthy);
  EXPECT_EQ(policy.health("gpu-0"), Health::kHealthy);
}

TEST_F(HealthPolicyTest, FatalXidsFaultIgnoredOnesOnlyCount) {
  EXPECT_FALSE(policy.observe_xid("gpu-0", 13, clock.now()));
  EXPECT_FALSE(policy.observe_xid("gpu-0", 13, clock.now()));
  auto t = policy.observe_xid("gpu-0", 79, clock.now());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, Health::kFaulty);
  EXPECT_EQ(t->reason, "XID 79 (fatal)");
  EXPECT_EQ(policy.xid_counts("gpu-0").at(13), 2u);
  EXPECT_EQ(policy.xid_counts("gpu-0").at(79), 1u);
  // Quiet for the period: probation; a fatal XID during probation: Faulty again.
  clock.advance(minutes(5));
  EXPECT_EQ(feed(temp(50)), Health::kProbation);
  EXPECT_EQ(policy.observe_xid("gpu-0", 48, clock.now())->to, Health::kFaulty);
  // An operator can clear it at once.
  EXPECT_EQ(policy.clear("gpu-0", clock.now())->to, Health::kHealthy);
}

TEST_F(HealthPolicyTest, EccDoubleBitErrorsFaultIncludingOnesFromBeforeTheAgentStarted) {
  HealthSample s;
  s.ecc_double_bit = 0;
  EXPECT_EQ(feed(s), std::nullopt);
  s.ecc_double_bit = 2;
  EXPECT_EQ(feed(s), Health::kFaulty);
  EXPECT_EQ(feed(s), std::nullopt);  // same count: no new fault
  HealthPolicy fresh;
  s.ecc_double_bit = 3;
  auto t = fresh.observe("gpu-1", s, clock.now());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, Health::kFaulty);
}

TEST_F(HealthPolicyTest, UnsupportedFieldsAreNotFaults) {
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(feed(HealthSample{}), std::nullopt);
  EXPECT_EQ(policy.health("gpu-0"), Health::kHealthy);
}

TEST_F(HealthPolicyTest, LostGpusComeBackOnProbation) {
  HealthSample lost;
  lost.lost = true;
  EXPECT_EQ(feed(lost), Health::kLost);
  EXPECT_EQ(feed(lost), std::nullopt);
  EXPECT_EQ(feed(temp(40)), Health::kProbation);
  clock.advance(minutes(5));
  EXPECT_EQ(feed(temp(40)), Health::kHealthy);
  EXPECT_EQ(policy.vanished("gpu-0", clock.now())->to, Health::kLost);
}

TEST_F(HealthPolicyTest, LowFreeMemoryReservesWithHysteresis) {
  HealthSample s;
  s.memory_free = MiB(512);
  EXPECT_EQ(feed(s), Health::kReserved);
  s.memory_free = MiB(1500);  // above the floor, below floor + margin
  EXPECT_EQ(feed(s), std::nullopt);
  s.memory_free = MiB(4096);
  EXPECT_EQ(feed(s), Health::kHealthy);
}

// Random telemetry, XIDs, losses and operator clears: every transition is one the pool accepts,
// and once the faults stop every GPU ends Healthy.
TEST(HealthPolicyProperty, TransitionsAreLegalAndRecoveryAlwaysHappens) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    std::mt19937_64 rng(seed);
    ManualClock clock;
    ClusterSpec c;
    NodeSpec n;
    n.name = "n";
    n.gpus.push_back(GpuGroupSpec{"A100-80GB", 4, MiB(81920), 1.0, {}});
    c.nodes.push_back(n);
    Pool pool = std::move(*Pool::from_spec(c, clock.now()));
    HealthPolicy policy;
    auto apply = [&](const std::optional<HealthTransition>& t) {
      if (!t) return;
      GpuIndex g = *pool.find_gpu(t->gpu);
      ASSERT_EQ(pool.gpu(g).health, t->from) << "seed " << seed;
      ASSERT_TRUE(pool.set_health(g, t->to, t->reason, t->time).ok())
          << "seed " << seed << ": " << t->reason;
    };
    for (int step = 0; step < 600; ++step) {
      clock.advance(seconds(1 + rng() % 30));
      std::string gpu = "GPU-n-" + std::to_string(rng() % 4);
      switch (rng() % 6) {
        case 0:
          apply(policy.observe_xid(gpu, static_cast<int>(rng() % 120), clock.now()));
          break;
        case 1: {
          HealthSample s;
          s.lost = rng() % 10 == 0;
          s.ecc_double_bit = rng() % 20 == 0 ? rng() % 3 : 0;
          apply(policy.observe(gpu, s, clock.now()));
          break;
        }
        case 2:
          apply(policy.clear(gpu, clock.now()));
          break;
        default: {
          HealthSample s;
          s.temperature_c = 60 + static_cast<int>(rng() % 40);
          s.memory_free = MiB(static_cast<int64_t>(rng() % 8192));
          apply(policy.observe(gpu, s, clock.now()));
        }
      }
      if (::testing::Test::HasFatalFailure()) return;
    }
    // Calm from now on: cool, plenty of memory, no errors. Everything heals.
    for (int step = 0; step < 2000; ++step) {
      clock.advance(seconds(1));
      HealthSample calm{50, MiB(40000), std::nullopt, false};
      for (int i = 0; i < 4; ++i)
        apply(policy.observe("GPU-n-" + std::to_string(i), calm, clock.now()));
      if (::testing::Test::HasFatalFailure()) return;
    }
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(policy.health("GPU-n-" + std::to_string(i)), Health::kHealthy) << "seed " << seed;
      EXPECT_EQ(pool.gpu(GpuIndex{static_cast<uint32_t>(i)}).health, Health::kHealthy)
          << "seed " << seed;
    }
  }
}

}  // namespace
}  // namespace gf
