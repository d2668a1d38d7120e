// Seeded random operations against FairQueue, checked against a plain model of what is queued:
// no entry is lost or served twice, lengths and token sums agree, FIFO holds within a tenant's
// class, and no entry leaves while an eligible entry of a higher class waits.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "admission/fair_queue.h"
#include "common/clock.h"

namespace gf {
namespace {

using std::chrono::milliseconds;

struct Model {
  std::map<uint64_t, QueueEntry> entries;  // what should be queued
  std::set<uint64_t> gone;                 // ids that left, by any way
};

void check_consistent(const FairQueue& q, const Model& m, TimePoint now) {
  ASSERT_EQ(q.size(), m.entries.size());
  std::map<std::string, size_t> len;
  std::map<std::string, int64_t> tokens;
  int64_t total_tokens = 0;
  Duration oldest{0};
  for (const auto& [id, e] : m.entries) {
    ASSERT_NE(q.find(id), nullptr) << "lost entry " << id;
    len[e.tenant] += 1;
    tokens[e.tenant] += e.cost.value;
    total_tokens += e.cost.value;
    oldest = std::max(oldest, now - e.enqueued);
  }
  FairQueueStats s = q.stats(now);
  ASSERT_EQ(s.length, m.entries.size());
  ASSERT_EQ(s.tokens.value, total_tokens);
  ASSERT_EQ(s.oldest_wait, oldest);
  ASSERT_EQ(s.tenants.size(), len.size());
  for (const auto& [t, n] : len) {
    ASSERT_EQ(q.size(t), n) << t;
    ASSERT_EQ(s.tenants.at(t).length, n) << t;
    ASSERT_EQ(s.tenants.at(t).tokens.value, tokens[t]) << t;
  }
}

TEST(FairQueueProperty, RandomOperationsKeepInvariants) {
  const std::string tenants[] = {"a", "b", "c", "d", "e"};
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    auto uniform = [&](int64_t lo, int64_t hi) {
      return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    FairQueue q(FairQueueConfig{.max_per_tenant = static_cast<size_t>(uniform(1, 20)),
                                .max_total = static_cast<size_t>(uniform(1, 60)),
                                .quantum = Tokens(uniform(1, 2000))});
    ManualClock clock;
    Model m;
    uint64_t next_id = 1;
    std::set<std::string> blocked;  // tenants currently not eligible
    auto eligible = [&](const QueueEntry& e) { return !blocked.count(e.tenant); };

    for (int step = 0; step < 2000; ++step) {
      clock.advance(milliseconds(uniform(0, 50)));
      const int64_t op = uniform(0, 99);
      if (op < 45) {  // push
        QueueEntry e{next_id++,
                     tenants[uniform(0, 4)],
                     static_cast<int>(uniform(0, 2)),
                     Tokens(uniform(0, 5000)),
                     clock.now(),
                     clock.now() + milliseconds(uniform(1, 3000))};
        const bool room =
            q.size(e.tenant) < q.config().max_per_tenant && q.size() < q.config().max_total;
        Status s = q.push(e);
        ASSERT_EQ(s.ok(), room);
        if (s.ok()) m.entries.emplace(e.id, e);
      } else if (op < 75) {  // pop, sometimes with tenants blocked
        blocked.clear();
        if (uniform(0, 2) == 0) blocked.insert(tenants[uniform(0, 4)]);
        const bool expect_some = std::any_of(m.entries.begin(), m.entries.end(),
                                             [&](const auto& kv) { return eligible(kv.second); });
        ASSERT_EQ(q.has_eligible(eligible), expect_some);
        auto e = q.pop(eligible);
        ASSERT_EQ(e.has_value(), expect_some);
        if (!e) continue;
        ASSERT_TRUE(m.entries.count(e->id)) << "served an entry not queued: " << e->id;
        ASSERT_TRUE(eligible(*e));
        for (const auto& [id, other] : m.entries) {
          if (!eligible(other)) continue;
          // Strict priority among eligible entries.
          ASSERT_LE(other.priority, e->priority);
          // FIFO within the same tenant and class.
          if (other.tenant == e->tenant && other.priority == e->priority) {
            ASSERT_GE(id, e->id);
          }
        }
        m.entries.erase(e->id);
        m.gone.insert(e->id);
      } else if (op < 85) {  // cancel a queued id or an unknown one
        uint64_t id = uniform(1, static_cast<int64_t>(next_id));
        auto c = q.cancel(id);
        ASSERT_EQ(c.has_value(), m.entries.count(id) == 1);
        if (c) {
          ASSERT_EQ(c->id, id);
          m.entries.erase(id);
          m.gone.insert(id);
        }
      } else if (op < 95) {  // expire
        auto gone = q.expire(clock.now());
        std::set<uint64_t> want;
        for (const auto& [id, e] : m.entries) {
          if (e.deadline <= clock.now()) want.insert(id);
        }
        std::set<uint64_t> got;
        for (size_t i = 0; i < gone.size(); ++i) {
          got.insert(gone[i].id);
          if (i > 0) {
            ASSERT_LE(gone[i - 1].deadline, gone[i].deadline);
          }
        }
        ASSERT_EQ(got, want);
        for (uint64_t id : got) {
          m.entries.erase(id);
          m.gone.insert(id);
        }
      } else {  // change a weight mid-run
        ASSERT_TRUE(q.set_weight(tenants[uniform(0, 4)], static_cast<int>(uniform(1, 5))).ok());
      }
      check_consistent(q, m, clock.now());
    }
    for (uint64_t id : m.gone) {
      ASSERT_EQ(q.find(id), nullptr) << "left but still queued: " << id;
    }
    // Drain: everything left comes out exactly once.
    while (auto e = q.pop()) {
      ASSERT_EQ(m.entries.erase(e->id), 1u);
    }
    ASSERT_TRUE(m.entries.empty());
    ASSERT_TRUE(q.empty());
  }
}

}  // namespace
}  // namespace gf
