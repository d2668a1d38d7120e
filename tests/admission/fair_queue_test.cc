#include "admission/fair_queue.h"

#include <gtest/gtest.h>

#include <deque>
#include <list>
#include <map>
#include <random>

#include "common/clock.h"

namespace gf {
namespace {

using std::chrono::seconds;

class FairQueueTest : public ::testing::Test {
 protected:
  Status push(FairQueue& q, const std::string& tenant, int64_t cost, int priority = 0,
              Duration timeout = seconds(30)) {
    return q.push(
        QueueEntry{next_id++, tenant, priority, Tokens(cost), clock.now(), clock.now() + timeout});
  }
  std::vector<std::string> drain_tenants(FairQueue& q, size_t n) {
    std::vector<std::string> out;
    for (size_t i = 0; i < n; ++i) {
      auto e = q.pop();
      if (!e) break;
      out.push_back(e->tenant);
    }
    return out;
  }
  ManualClock clock;
  uint64_t next_id = 1;
};

TEST_F(FairQueueTest, FifoWithinATenant) {
  FairQueue q;
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(push(q, "a", 100).ok());
  for (uint64_t id = 1; id <= 5; ++id) {
    auto e = q.pop();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->id, id);
  }
  EXPECT_FALSE(q.pop());
  EXPECT_TRUE(q.empty());
}

TEST_F(FairQueueTest, EqualWeightsAlternateByTokens) {
  // Quantum 1000: a sends one 1000-token request per round, b sends two 500-token ones.
  FairQueue q(FairQueueConfig{.quantum = Tokens(1000)});
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(push(q, "a", 1000).ok());
  for (int i = 0; i < 6; ++i)
    ASSERT_TRUE(push(q, "b", 500).ok());
  EXPECT_EQ(drain_tenants(q, 9),
            (std::vector<std::string>{"a", "b", "b", "a", "b", "b", "a", "b", "b"}));
}

TEST_F(FairQueueTest, WeightsScaleTheQuantum) {
  FairQueue q(FairQueueConfig{.quantum = Tokens(100)});
  ASSERT_TRUE(q.set_weight("heavy", 3).ok());
  EXPECT_EQ(q.weight("heavy"), 3);
  EXPECT_EQ(q.weight("other"), 1);
  EXPECT_FALSE(q.set_weight("x", 0).ok());
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(push(q, "light", 100).ok());
    ASSERT_TRUE(push(q, "heavy", 100).ok());
  }
  EXPECT_EQ(drain_tenants(q, 8), (std::vector<std::string>{"light", "heavy", "heavy", "heavy",
                                                           "light", "heavy", "heavy", "heavy"}));
}

TEST_F(FairQueueTest, StrictPriorityAboveFairness) {
  FairQueue q;
  ASSERT_TRUE(push(q, "batch", 10, /*priority=*/0).ok());
  ASSERT_TRUE(push(q, "batch", 10, 0).ok());
  ASSERT_TRUE(push(q, "chat", 10, 5).ok());
  ASSERT_TRUE(push(q, "mid", 10, 2).ok());
  ASSERT_TRUE(push(q, "chat", 10, 5).ok());
  EXPECT_EQ(drain_tenants(q, 5),
            (std::vector<std::string>{"chat", "chat", "mid", "batch", "batch"}));
  // A tenant's entries in different classes are separate flows.
  ASSERT_TRUE(push(q, "x", 10, 0).ok());
  ASSERT_TRUE(push(q, "x", 10, 1).ok());
  auto e = q.pop();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->priority, 1);
}

TEST_F(FairQueueTest, FloodingTenantGetsOnlyItsWeightedShare) {
  // "flood" (weight 1) pushes far more than it is served; "b" (weight 2) and "c" (weight 3) keep
  // a short backlog. Over a long run each is served tokens in proportion to its weight.
  FairQueue q(FairQueueConfig{.max_per_tenant = 64, .max_total = 1000, .quantum = Tokens(512)});
  ASSERT_TRUE(q.set_weight("b", 2).ok());
  ASSERT_TRUE(q.set_weight("c", 3).ok());
  std::mt19937_64 rng(20240611);
  std::uniform_int_distribution<int64_t> size(1, 4000);
  std::map<std::string, int64_t> served;
  int64_t total = 0;
  int flood_refused = 0;
  for (int step = 0; step < 30000; ++step) {
    for (int i = 0; i < 10; ++i) {
      if (!push(q, "flood", size(rng)).ok()) ++flood_refused;
    }
    for (const char* t : {"b", "c"}) {
      while (q.size(t) < 3)
        ASSERT_TRUE(push(q, t, size(rng)).ok());
    }
    auto e = q.pop();
    ASSERT_TRUE(e);
    served[e->tenant] += e->cost.value;
    total += e->cost.value;
  }
  EXPECT_GT(flood_refused, 0);  // its bound held
  EXPECT_LE(q.size("flood"), 64u);
  const std::map<std::string, double> want = {{"flood", 1.0 / 6}, {"b", 2.0 / 6}, {"c", 3.0 / 6}};
  for (const auto& [tenant, share] : want) {
    const double got = static_cast<double>(served[tenant]) / static_cast<double>(total);
    EXPECT_NEAR(got, share, share * 0.10) << tenant;
  }
}

TEST_F(FairQueueTest, WorkConservingWhenOthersAreIdle) {
  FairQueue q;
  ASSERT_TRUE(q.set_weight("b", 5).ok());
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(push(q, "a", 3000).ok());
  EXPECT_EQ(drain_tenants(q, 10).size(), 10u);
}

TEST_F(FairQueueTest, HugeRequestsWithTinyQuantumTakeNoLongLoops) {
  // 1-token quantum against 10^12-token requests: rounds with no service are skipped in one step.
  FairQueue q(FairQueueConfig{.quantum = Tokens(1)});
  ASSERT_TRUE(push(q, "a", 1'000'000'000'000).ok());
  ASSERT_TRUE(push(q, "b", 999'999'999'999).ok());
  EXPECT_EQ(drain_tenants(q, 2), (std::vector<std::string>{"b", "a"}));
}

// Plain DRR that loops round by round, as the textbook writes it: the reference the queue's
// round skipping must match exactly.
class ReferenceDrr {
 public:
  ReferenceDrr(int64_t quantum, std::map<std::string, int> weights)
      : quantum_(quantum), weights_(std::move(weights)) {}
  void push(const std::string& t, uint64_t id, int64_t cost) {
    if (queues_[t].empty()) {
      ring_.push_back(t);
      deficit_[t] = 0;
      granted_[t] = false;
    }
    queues_[t].push_back({id, cost});
  }
  uint64_t pop() {
    for (;;) {
      const std::string t = ring_.front();
      if (!granted_[t]) {
        deficit_[t] += quantum_ * weights_[t];
        granted_[t] = true;
      }
      auto [id, cost] = queues_[t].front();
      if (cost <= deficit_[t]) {
        deficit_[t] -= cost;
        queues_[t].pop_front();
        if (queues_[t].empty()) ring_.pop_front();
        return id;
      }
      granted_[t] = false;
      ring_.pop_front();
      ring_.push_back(t);
    }
  }
  bool empty() const { return ring_.empty(); }

 private:
  int64_t quantum_;
  std::map<std::string, int> weights_;
  std::map<std::string, std::deque<std::pair<uint64_t, int64_t>>> queues_;
  std::map<std::string, int64_t> deficit_;
  std::map<std::string, bool> granted_;
  std::list<std::string> ring_;
};

TEST_F(FairQueueTest, MatchesTextbookDrrExactly) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    const std::map<std::string, int> weights = {{"a", 1}, {"b", 2}, {"c", 3}, {"d", 7}};
    const int64_t quantum = std::uniform_int_distribution<int64_t>(1, 300)(rng);
    FairQueue q(
        FairQueueConfig{.max_per_tenant = 10000, .max_total = 100000, .quantum = Tokens(quantum)});
    for (const auto& [t, w] : weights)
      ASSERT_TRUE(q.set_weight(t, w).ok());
    ReferenceDrr ref(quantum, weights);
    std::uniform_int_distribution<int> tenant(0, 3), op(0, 2);
    std::uniform_int_distribution<int64_t> cost(0, 5000);
    const std::string names[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 3000; ++i) {
      if (op(rng) < 2 || q.empty()) {
        const std::string& t = names[tenant(rng)];
        const int64_t c = cost(rng);
        ASSERT_TRUE(push(q, t, c).ok());
        ref.push(t, next_id - 1, c);
      } else {
        auto e = q.pop();
        ASSERT_TRUE(e);
        ASSERT_EQ(e->id, ref.pop()) << "seed " << seed << " step " << i;
      }
    }
    while (!q.empty())
      ASSERT_EQ(q.pop()->id, ref.pop()) << "seed " << seed;
    EXPECT_TRUE(ref.empty());
  }
}

TEST_F(FairQueueTest, BoundsPerTenantAndTotal) {
  FairQueue q(FairQueueConfig{.max_per_tenant = 2, .max_total = 3});
  ASSERT_TRUE(push(q, "a", 1).ok());
  ASSERT_TRUE(push(q, "a", 1, /*priority=*/3).ok());  // the bound spans classes
  Status s = push(q, "a", 1);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(q.tenant_full("a"));
  ASSERT_TRUE(push(q, "b", 1).ok());
  EXPECT_TRUE(q.full());
  Status t = push(q, "c", 1);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("queue is full"), std::string::npos);
  EXPECT_EQ(q.size(), 3u);
  ASSERT_TRUE(q.pop());
  EXPECT_TRUE(push(q, "c", 1).ok());
}

TEST_F(FairQueueTest, RefusesDuplicateIdsAndNegativeCosts) {
  FairQueue q;
  ASSERT_TRUE(q.push(QueueEntry{7, "a", 0, Tokens(1), clock.now(), clock.now()}).ok());
  Status dup = q.push(QueueEntry{7, "b", 0, Tokens(1), clock.now(), clock.now()});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  EXPECT_FALSE(q.push(QueueEntry{8, "a", 0, Tokens(-1), clock.now(), clock.now()}).ok());
  EXPECT_EQ(q.size(), 1u);
}

TEST_F(FairQueueTest, ExpireReturnsTimedOutEntriesEarliestFirst) {
  FairQueue q;
  ASSERT_TRUE(push(q, "a", 1, 0, seconds(10)).ok());  // id 1, deadline +10 s
  ASSERT_TRUE(push(q, "b", 1, 0, seconds(5)).ok());   // id 2, deadline +5 s
  ASSERT_TRUE(push(q, "a", 1, 0, seconds(60)).ok());  // id 3
  clock.advance(seconds(4));
  EXPECT_TRUE(q.expire(clock.now()).empty());
  clock.advance(seconds(6));  // +10 s: the deadline itself counts as expired
  auto gone = q.expire(clock.now());
  ASSERT_EQ(gone.size(), 2u);
  EXPECT_EQ(gone[0].id, 2u);
  EXPECT_EQ(gone[1].id, 1u);
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.size("b"), 0u);
  EXPECT_EQ(q.pop()->id, 3u);
}

TEST_F(FairQueueTest, CancelRemovesExactlyThatEntry) {
  FairQueue q;
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(push(q, "a", 10).ok());
  ASSERT_TRUE(push(q, "b", 10).ok());
  auto c = q.cancel(2);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->tenant, "a");
  EXPECT_FALSE(q.cancel(2));
  EXPECT_FALSE(q.cancel(999));
  EXPECT_EQ(q.find(2), nullptr);
  ASSERT_NE(q.find(3), nullptr);
  auto b = q.cancel(4);  // b's flow empties and leaves the round
  ASSERT_TRUE(b);
  std::vector<uint64_t> order;
  while (auto e = q.pop())
    order.push_back(e->id);
  EXPECT_EQ(order, (std::vector<uint64_t>{1, 3}));
}

TEST_F(FairQueueTest, IneligibleTenantsAreSkippedAndKeepTheirPlace) {
  FairQueue q;
  ASSERT_TRUE(push(q, "capped", 10, 5).ok());  // a higher class, but its tenant is at its cap
  ASSERT_TRUE(push(q, "a", 10).ok());
  ASSERT_TRUE(push(q, "b", 10).ok());
  auto not_capped = [](const QueueEntry& e) { return e.tenant != "capped"; };
  EXPECT_TRUE(q.has_eligible(not_capped));
  EXPECT_EQ(q.pop(not_capped)->tenant, "a");
  EXPECT_EQ(q.pop(not_capped)->tenant, "b");
  EXPECT_FALSE(q.pop(not_capped));
  EXPECT_FALSE(q.has_eligible(not_capped));
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.pop()->tenant, "capped");
}

TEST_F(FairQueueTest, StatsReportWaitingDemand) {
  FairQueue q;
  EXPECT_EQ(q.stats(clock.now()).oldest_wait, Duration::zero());
  ASSERT_TRUE(push(q, "a", 100).ok());
  clock.advance(seconds(2));
  ASSERT_TRUE(push(q, "b", 300, 1).ok());
  ASSERT_TRUE(push(q, "a", 50, 1).ok());
  clock.advance(seconds(1));
  FairQueueStats s = q.stats(clock.now());
  EXPECT_EQ(s.length, 3u);
  EXPECT_EQ(s.tokens, Tokens(450));
  EXPECT_EQ(s.oldest_wait, seconds(3));
  ASSERT_EQ(s.tenants.size(), 2u);
  EXPECT_EQ(s.tenants["a"].length, 2u);
  EXPECT_EQ(s.tenants["a"].tokens, Tokens(150));
  EXPECT_EQ(s.tenants["a"].oldest_wait, seconds(3));
  EXPECT_EQ(s.tenants["b"].oldest_wait, seconds(1));
  ASSERT_TRUE(q.cancel(1));
  EXPECT_EQ(q.stats(clock.now()).oldest_wait, seconds(1));
}

}  // namespace
}  // namespace gf
