// Each policy on hand-built candidate lists: what it chooses and why.
#include "routing/policy.h"
#include "routing/policy_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "routing/bounded_load.h"
#include "routing/kv_aware.h"
#include "routing/power_of_two.h"
#include "routing/prefix_affinity.h"

namespace gf {
namespace {

// A fleet of replica views and the candidate list policies see.
struct Fleet {
  std::deque<ReplicaView> replicas;  // deque: stable addresses
  std::vector<const ReplicaView*> candidates;

  explicit Fleet(int n) {
    for (int i = 0; i < n; ++i) {
      ReplicaView r;
      r.id = "r" + std::to_string(i);
      r.revision = "v1";
      r.revision_weight = 1;
      r.ready = true;
      r.slot = static_cast<ReplicaSlot>(i);
      replicas.push_back(r);
    }
    for (const ReplicaView& r : replicas)
      candidates.push_back(&r);
  }
  ReplicaView& operator[](size_t i) { return replicas[i]; }
  void changed(Policy& p) { p.replicas_changed(candidates, {}); }
  // Pick, then count the request as outstanding, as the router does.
  size_t route(Policy& p, const RouteRequest& r) {
    const Choice c = p.pick(r, candidates);
    ReplicaView& chosen = replicas[c.index];
    ++chosen.outstanding;
    chosen.outstanding_tokens += r.estimated_tokens;
    p.routed(r, chosen);
    return c.index;
  }
};

std::unique_ptr<Policy> make(std::string_view name, PolicyConfig c = {}) {
  auto p = make_policy(name, c);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  return std::move(p).value();
}

TEST(PolicyFactory, MakesEveryNamedPolicy) {
  ASSERT_EQ(policy_names().size(), 7u);
  for (std::string_view name : policy_names())
    EXPECT_EQ(make(name)->name(), name);
}

TEST(PolicyFactory, UnknownNameSaysWhatIsAccepted) {
  auto p = make_policy("least-loaded", {});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(p.error().message,
            "unknown routing policy \"least-loaded\"; known: round-robin, least-outstanding, "
            "least-work, power-of-two, prefix-affinity, session-affinity, kv-aware");
}

TEST(PolicyFactory, RegistryHoldsEveryPolicyInDocumentationOrder) {
  EXPECT_EQ(routing_policies().what(), "routing policy");
  EXPECT_EQ(policy_names(), (std::vector<std::string>{
                                "round-robin", "least-outstanding", "least-work", "power-of-two",
                                "prefix-affinity", "session-affinity", "kv-aware"}));
  ASSERT_NE(routing_policies().find("kv-aware"), nullptr);
  EXPECT_EQ((*routing_policies().find("kv-aware"))(PolicyConfig{})->name(), "kv-aware");
  EXPECT_EQ(routing_policies().find("fastest"), nullptr);
}

// least-work: where this request would be done soonest. On equal speeds, the fewest tokens in
// flight; a slower replica gets a proportionally smaller share, and long requests go to the fast.
TEST(LeastWork, OnOneGpuModelPicksTheFewestTokensInFlight) {
  Fleet f(3);
  auto p = make("least-work");
  f[0].outstanding = 1;
  f[0].outstanding_tokens = Tokens(5000);
  f[1].outstanding = 3;  // more requests, fewer tokens: tokens decide
  f[1].outstanding_tokens = Tokens(900);
  f[2].outstanding = 2;
  f[2].outstanding_tokens = Tokens(1200);
  EXPECT_EQ(p->pick(RouteRequest{.estimated_tokens = Tokens(100)}, f.candidates).index, 1u);
}

TEST(LeastWork, ASlowerReplicaGetsItsShareAndLongRequestsGoToTheFaster) {
  Fleet f(2);
  f[1].speed = 0.5;  // half as fast
  auto p = make("least-work");
  // Equal requests: the slow replica takes a third, as its speed says (1 : 0.5).
  int to_slow = 0;
  for (int i = 0; i < 300; ++i)
    to_slow += f.route(*p, RouteRequest{.estimated_tokens = Tokens(1000)}) == 1;
  EXPECT_NEAR(to_slow, 100, 2);
  // With the fast replica holding more, a short request goes to the slow one, a long one still to
  // the fast one: (3000 + 1000) / 1 < (0 + 1000) / 0.5 is false, (3000 + 10000) / 1 < 20000.
  Fleet g(2);
  g[1].speed = 0.5;
  g[0].outstanding_tokens = Tokens(3000);
  EXPECT_EQ(p->pick(RouteRequest{.estimated_tokens = Tokens(1000)}, g.candidates).index, 1u);
  EXPECT_EQ(p->pick(RouteRequest{.estimated_tokens = Tokens(10000)}, g.candidates).index, 0u);
}

TEST(LeastWork, AnIdleFleetIsUsedInTurn) {
  Fleet f(4);
  auto p = make("least-work");
  std::set<size_t> seen;
  for (int i = 0; i < 4; ++i)
    seen.insert(p->pick(RouteRequest{.estimated_tokens = Tokens(10)}, f.candidates).index);
  EXPECT_EQ(seen.size(), 4u) << "ties rotate rather than always taking the first";
}

TEST(PolicyFactory, PowerOfTwoTakesItsSeedFromTheConfig) {
  Fleet f(8);
  PolicyConfig a;
  a.seed = 7;
  auto p = make("power-of-two", a);
  PowerOfTwoPolicy q(uint64_t{7});
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(p->pick({}, f.candidates).index, q.pick({}, f.candidates).index);
}

TEST(PolicyFactory, RejectsBadConfig) {
  PolicyConfig c;
  c.load_factor = 0.9;
  auto p = make_policy("prefix-affinity", c);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.error().message, testing::HasSubstr("load factor must be at least 1.0"));
}

TEST(RoundRobin, TakesEachInTurn) {
  Fleet f(3);
  auto p = make("round-robin");
  std::vector<size_t> got;
  for (int i = 0; i < 6; ++i)
    got.push_back(p->pick({}, f.candidates).index);
  EXPECT_EQ(got, (std::vector<size_t>{0, 1, 2, 0, 1, 2}));
}

TEST(LeastOutstanding, FewestRequestsThenFewestTokens) {
  Fleet f(3);
  f[0].outstanding = 2;
  f[1].outstanding = 1;
  f[1].outstanding_tokens = Tokens(5000);
  f[2].outstanding = 1;
  f[2].outstanding_tokens = Tokens(100);
  auto p = make("least-outstanding");
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(p->pick({}, f.candidates).index, 2u);
}

TEST(LeastOutstanding, IdleFleetIsUsedEvenly) {
  // At low concurrency every replica is idle at each pick: ties must rotate, or one replica
  // gets everything (sglang#32983).
  Fleet f(4);
  auto p = make("least-outstanding");
  std::map<size_t, int> count;
  for (int i = 0; i < 400; ++i)
    ++count[p->pick({}, f.candidates).index];
  for (size_t i = 0; i < 4; ++i)
    EXPECT_EQ(count[i], 100);
}

TEST(PowerOfTwo, DeterministicForASeedAndPrefersTheLessLoaded) {
  Fleet f(8);
  for (size_t i = 0; i < 8; ++i)
    f[i].outstanding = static_cast<int>(i);  // r0 least loaded, r7 most
  PolicyConfig c;
  c.seed = 99;
  auto a = make("power-of-two", c);
  auto b = make("power-of-two", c);
  std::map<size_t, int> count;
  for (int i = 0; i < 2000; ++i) {
    const size_t x = a->pick({}, f.candidates).index;
    EXPECT_EQ(x, b->pick({}, f.candidates).index);
    ++count[x];
  }
  EXPECT_EQ(count[7], 0);  // the most loaded never wins a pair
  // The least loaded wins every pair it is in (expect 500 of 2000); r6 only a pair with r7 (71).
  EXPECT_GT(count[0], count[6] * 3);
  Fleet one(1);
  EXPECT_EQ(a->pick({}, one.candidates).index, 0u);
}

TEST(SessionAffinity, SameKeySameReplicaNoKeyLeastOutstanding) {
  Fleet f(8);
  auto p = make("session-affinity");
  f.changed(*p);
  RouteRequest r;
  r.session_key = "user-1234";
  const size_t first = p->pick(r, f.candidates).index;
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(p->pick(r, f.candidates).index, first);
  // Different users spread out.
  std::map<size_t, int> count;
  for (int u = 0; u < 800; ++u) {
    const std::string key = "user-" + std::to_string(u);
    r.session_key = key;
    ++count[p->pick(r, f.candidates).index];
  }
  EXPECT_EQ(count.size(), 8u);
  // Without a key: the least loaded.
  for (size_t i = 0; i < 8; ++i)
    f[i].outstanding = i == 5 ? 0 : 3;
  EXPECT_EQ(p->pick({}, f.candidates).index, 5u);
}

TEST(SessionAffinity, AHotSessionSpillsAtTheLoadBound) {
  Fleet f(4);
  auto p = make("session-affinity");
  f.changed(*p);
  RouteRequest r;
  r.session_key = "hot";
  // One session sends 40 concurrent requests: its replica takes at most ceil(1.25·(m+1)/4).
  for (int i = 0; i < 40; ++i)
    f.route(*p, r);
  int used = 0;
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_LE(f[i].outstanding, 13) << i;  // ceil(1.25 · 40 / 4)
    if (f[i].outstanding > 0) ++used;
  }
  EXPECT_GE(used, 3);
}

// Property: whatever the keys and finishes, an affinity policy never sends a request to a
// replica already at the bound ceil(c·(m+1)·speed/total speed) — so no replica ever exceeds it.
TEST(BoundedLoadProperty, AffinityPoliciesNeverExceedTheBound) {
  for (std::string_view name : {"prefix-affinity", "session-affinity", "kv-aware"}) {
    for (double c : {1.0, 1.25, 2.0}) {
      Fleet f(6);
      if (c != 1.25) {  // a mixed fleet: the bound is each replica's share by speed
        f[1].speed = 0.5;
        f[2].speed = 0.25;
      }
      PolicyConfig cfg;
      cfg.load_factor = c;
      cfg.prefix_index_entries = 256;
      auto p = make(name, cfg);
      f.changed(*p);
      std::mt19937_64 rng(static_cast<uint64_t>(c * 100) + name.size());
      std::vector<uint64_t> blocks;
      std::string key;
      for (int i = 0; i < 5000; ++i) {
        // Few, hot keys: the worst case for affinity.
        const uint64_t k = rng() % 3;
        key = "s" + std::to_string(k);
        blocks = {k, k * 10 + 1, k * 100 + 2};
        RouteRequest r;
        r.session_key = key;
        r.prefix_blocks = blocks;
        r.estimated_tokens = Tokens(100);
        const LoadBound bound = LoadBound::of(f.candidates, c);
        const Choice ch = p->pick(r, f.candidates);
        ASSERT_LT(f[ch.index].outstanding, bound.limit(f[ch.index]))
            << name << " c=" << c << " i=" << i;
        ReplicaView& chosen = f[ch.index];
        ++chosen.outstanding;
        p->routed(r, chosen);
        // Finish a random request now and then, so load rises and falls.
        if (rng() % 3 != 0) {
          ReplicaView& done = f[rng() % 6];
          if (done.outstanding > 0) --done.outstanding;
        }
      }
    }
  }
}

// On a mixed fleet every policy that weighs load weighs it per unit of speed, as least-work does.
TEST(BoundedLoad, ASlowerReplicaSpillsAtItsShareBySpeed) {
  Fleet f(3);
  f[2].speed = 0.5;
  for (size_t i = 0; i < 3; ++i)
    f[i].outstanding = 4;  // m = 12, c = 1: c (m + 1) / 2.5 = 5.2 per unit of speed
  const LoadBound b = LoadBound::of(f.candidates, 1.0);
  EXPECT_EQ(b.limit(f[0]), 6);  // ceil(5.2)
  EXPECT_EQ(b.limit(f[2]), 3);  // ceil(2.6): already past it
  EXPECT_TRUE(b.admits(f[0]));
  EXPECT_FALSE(b.admits(f[2]));
  // Equal speeds: ceil(c (m + 1) / n), as before speeds were known.
  Fleet g(4);
  g[0].outstanding = 7;
  EXPECT_EQ(LoadBound::of(g.candidates, 1.25).limit(g[1]), 3);  // ceil(1.25 x 8 / 4)
}

TEST(PowerOfTwo, OfTheTwoTheLessLoadedPerUnitOfSpeed) {
  Fleet f(2);
  f[1].speed = 0.25;
  f[0].outstanding = 3;
  f[1].outstanding = 1;  // fewer requests, but at a quarter of the speed: 3 x 0.25 < 1 x 1
  auto p = make("power-of-two");
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(p->pick({}, f.candidates).index, 0u);
  f[0].outstanding = 5;  // 5 x 0.25 > 1 x 1
  EXPECT_EQ(p->pick({}, f.candidates).index, 1u);
  f[0].outstanding = 4;  // a tie in requests per speed: then tokens per speed
  f[0].outstanding_tokens = Tokens(4000);
  f[1].outstanding_tokens = Tokens(1100);  // 4000 x 0.25 < 1100 x 1, though 4000 > 1100
  EXPECT_EQ(p->pick({}, f.candidates).index, 0u);
}

TEST(KvAware, LoadIsWeighedPerUnitOfSpeed) {
  Fleet f(2);
  f[0].speed = 0.5;
  f[0].outstanding = 1;
  f[0].outstanding_tokens = Tokens(1000);
  f[1].outstanding = 1;
  f[1].outstanding_tokens = Tokens(1500);  // more tokens, but twice as fast: done sooner
  auto p = make("kv-aware");
  f.changed(*p);
  EXPECT_EQ(p->pick(RouteRequest{.estimated_tokens = Tokens(100)}, f.candidates).index, 1u);
  f[0].speed = 1;  // now equally fast: the fewer tokens win
  EXPECT_EQ(p->pick(RouteRequest{.estimated_tokens = Tokens(100)}, f.candidates).index, 0u);
}

TEST(SessionAffinity, WithoutAKeyItRoutesAsLeastWork) {
  Fleet f(2);
  f[0].speed = 0.5;
  f[0].outstanding_tokens = Tokens(1000);
  f[1].outstanding_tokens = Tokens(1500);
  for (std::string_view name : {"session-affinity", "prefix-affinity"}) {
    auto p = make(name);
    f.changed(*p);
    EXPECT_EQ(p->pick(RouteRequest{.estimated_tokens = Tokens(100)}, f.candidates).index, 1u)
        << name;
  }
}

TEST(PrefixAffinity, FollowsTheLongestRememberedPrefix) {
  Fleet f(8);
  PolicyConfig cfg;
  auto p = make("prefix-affinity", cfg);
  f.changed(*p);
  // Conversation A's first turn, then its second turn extends it.
  std::vector<uint64_t> turn1 = {11, 12, 13, 14};
  std::vector<uint64_t> turn2 = {11, 12, 13, 14, 15, 16};
  RouteRequest r;
  r.prefix_blocks = turn1;
  const size_t a = f.route(*p, r);
  f[a].outstanding = 0;
  r.prefix_blocks = turn2;
  const Choice c = p->pick(r, f.candidates);
  EXPECT_EQ(c.index, a);
  EXPECT_EQ(c.prefix_blocks_matched, 4u);
}

TEST(PrefixAffinity, NewPromptsSpreadAndShortMatchesDoNotCount) {
  Fleet f(8);
  auto p = make("prefix-affinity");
  f.changed(*p);
  // Every prompt starts with the same system-prompt block 7, then differs: 1/20 of the
  // blocks match, under min_match_ratio 0.1, so the shared block does not pull them together.
  std::map<size_t, int> count;
  for (uint64_t conv = 0; conv < 800; ++conv) {
    std::vector<uint64_t> blocks = {7};
    for (uint64_t i = 1; i < 20; ++i)
      blocks.push_back(conv * 100 + i);
    RouteRequest r;
    r.prefix_blocks = blocks;
    const size_t i = f.route(*p, r);
    --f[i].outstanding;  // finished at once: low concurrency
    ++count[i];
  }
  EXPECT_EQ(count.size(), 8u);
  for (const auto& [i, n] : count)
    EXPECT_GT(n, 50) << i;
}

TEST(PrefixAffinity, OverloadedOwnerSpillsToTheRingAndRemovedOwnersAreForgotten) {
  Fleet f(4);
  PolicyConfig cfg;
  auto p = make("prefix-affinity", cfg);
  f.changed(*p);
  std::vector<uint64_t> blocks = {1, 2, 3};
  RouteRequest r;
  r.prefix_blocks = blocks;
  const size_t owner = f.route(*p, r);
  f[owner].outstanding = 10;  // far over 1.25 × average
  const size_t other = p->pick(r, f.candidates).index;
  EXPECT_NE(other, owner);
  // The owner leaves the table: its entries go; a newcomer in its slot inherits nothing.
  const ReplicaSlot gone = f[owner].slot;
  p->replicas_changed(f.candidates, std::span<const ReplicaSlot>(&gone, 1));
  const auto* pa = dynamic_cast<const PrefixAffinityPolicy*>(p.get());
  ASSERT_NE(pa, nullptr);
  EXPECT_EQ(pa->index().longest_match(blocks).blocks, 0u);
}

TEST(KvAware, PrefersTheCachedPrefixUntilLoadOutweighsIt) {
  Fleet f(4);
  auto p = make("kv-aware");
  f.changed(*p);
  // A replica was sent the first half of the prompt earlier.
  std::vector<uint64_t> first_half = {1, 2};
  std::vector<uint64_t> blocks = {1, 2, 3, 4};
  RouteRequest r;
  r.prefix_blocks = first_half;
  r.estimated_tokens = Tokens(1000);
  const size_t owner = f.route(*p, r);
  r.prefix_blocks = blocks;
  // Everyone equally loaded: the prefix decides.
  for (size_t i = 0; i < 4; ++i) {
    f[i].outstanding = 1;
    f[i].outstanding_tokens = Tokens(1000);
  }
  Choice c = p->pick(r, f.candidates);
  EXPECT_EQ(c.index, owner);
  EXPECT_EQ(c.prefix_blocks_matched, 2u);
  // The owner's KV cache is full, its queue long and its tokens many: half a prefix (score
  // 3 × 0.5) no longer outweighs that (3 × ~1 for the others).
  f[owner].kv_cache_usage = 1.0;
  f[owner].queue_length = 8;
  f[owner].outstanding_tokens = Tokens(30'000);
  for (size_t i = 0; i < 4; ++i)
    if (i != owner) {
      f[i].kv_cache_usage = 0.1;
      f[i].queue_length = 0;
    }
  EXPECT_NE(p->pick(r, f.candidates).index, owner);
}

TEST(KvAware, UnreportedReplicasScoreAtTheMeanAndNoRequestCountsAreIgnored) {
  Fleet f(3);
  auto p = make("kv-aware");
  f.changed(*p);
  f[0].kv_cache_usage = 0.9;
  f[1].kv_cache_usage = 0.5;  // f[2] has not reported: scored at 0.7
  std::map<size_t, int> count;
  for (int i = 0; i < 30; ++i)
    ++count[p->pick({}, f.candidates).index];
  EXPECT_EQ(count[1], 30);
}

TEST(KvAware, ShortestReportedQueueWins) {
  Fleet f(3);
  auto p = make("kv-aware");
  f.changed(*p);
  f[0].queue_length = 10;
  f[1].queue_length = 5;
  f[2].queue_length = 1;
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(p->pick({}, f.candidates).index, 2u);
  f[2].queue_length.reset();  // not reported: scored at the mean of 10 and 5, worse than 5
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(p->pick({}, f.candidates).index, 1u);
}

}  // namespace
}  // namespace gf
