// The router end to end: routing-table updates, the revision split, ejection through finish(),
// tickets across updates, and the reasons a user reads when nothing can be picked.
#include "routing/router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"

namespace gf {
namespace {

using std::chrono::seconds;
using testing::HasSubstr;

// A model's routing-table entry written flat, as these tests find it easiest: each replica with
// its revision, and the weights of the revisions. Converts to the controller's nested RouteModel:
// with no weights listed every revision gets weight 1; a revision not listed gets weight 0.
struct FlatReplica {
  std::string id;
  std::string revision;
  bool ready = true;
  bool draining = false;
  int restarts = 0;
};
struct FlatRoutes {
  std::string model;
  std::string policy;
  std::vector<std::pair<std::string, int>> revisions;
  std::vector<FlatReplica> replicas;

  operator RouteModel() const {  // NOLINT: implicit, so that update(t) reads as before
    RouteModel m{.model = model, .policy = policy};
    auto revision = [&](const std::string& name) -> RouteRevision& {
      for (RouteRevision& r : m.revisions)
        if (r.revision == name) return r;
      return m.revisions.emplace_back(RouteRevision{name, revisions.empty() ? 1 : 0, {}});
    };
    for (const auto& [name, weight] : revisions)
      m.revisions.push_back(RouteRevision{name, weight, {}});
    for (const FlatReplica& r : replicas) {
      revision(r.revision)
          .replicas.push_back(RouteReplica{r.id, "127.0.0.1:1", r.ready, r.draining, r.restarts});
    }
    return m;
  }
};

FlatRoutes table(std::string policy, int n, std::string revision = "v1") {
  FlatRoutes t;
  t.model = "llama-70b";
  t.policy = std::move(policy);
  for (int i = 0; i < n; ++i)
    t.replicas.push_back({"r" + std::to_string(i), revision, true, false});
  return t;
}

RouteRequest request(std::string_view model = "llama-70b") {
  RouteRequest r;
  r.model = model;
  r.estimated_tokens = Tokens(500);
  return r;
}

TEST(Router, ASpeedOutsideZeroToOneCountsAsOne) {
  // Policies divide by it; the table's JSON reader already refuses such speeds, a table built in
  // code must not get past the router with them either.
  RouteModel m = table("least-work", 5);
  const double speeds[] = {0.0, -1.0, 2.0, std::nan(""), 0.5};
  for (size_t i = 0; i < 5; ++i)
    m.revisions[0].replicas[i].speed = speeds[i];
  Router router;
  ASSERT_TRUE(router.update(m).ok());
  ManualClock clock;
  std::map<std::string, double> seen;
  for (const ReplicaStatus& s : router.replicas("llama-70b", clock.now()))
    seen[s.view.id] = s.view.speed;
  EXPECT_EQ(seen, (std::map<std::string, double>{
                      {"r0", 1.0}, {"r1", 1.0}, {"r2", 1.0}, {"r3", 1.0}, {"r4", 0.5}}));
}

TEST(Router, PicksAndCountsOutstandingUntilFinish) {
  Router router;
  ASSERT_TRUE(router.update(table("least-outstanding", 3)).ok());
  ManualClock clock;
  std::vector<Ticket> tickets;
  for (int i = 0; i < 6; ++i) {
    auto p = router.pick(request(), clock.now());
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->revision, "v1");
    tickets.push_back(p->ticket);
  }
  for (const ReplicaStatus& s : router.replicas("llama-70b", clock.now())) {
    EXPECT_EQ(s.view.outstanding, 2) << s.view.id;
    EXPECT_EQ(s.view.outstanding_tokens, Tokens(1000));
  }
  for (const Ticket& t : tickets)
    router.finish(t, Outcome::kSuccess, clock.now());
  for (const ReplicaStatus& s : router.replicas("llama-70b", clock.now())) {
    EXPECT_EQ(s.view.outstanding, 0);
    EXPECT_EQ(s.view.outstanding_tokens, Tokens(0));
  }
}

TEST(Router, UnknownModelAndUnknownPolicyAreClearErrors) {
  Router router;
  auto p = router.pick(request("mistral-7b"), TimePoint{});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(p.error().message, HasSubstr("no routes for model \"mistral-7b\""));

  const Status s = router.update(table("fastest", 2));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(
      s.error().message,
      HasSubstr("routing table for model \"llama-70b\": unknown routing policy \"fastest\""));
  EXPECT_EQ(router.policy("llama-70b"), nullptr);  // nothing changed
}

TEST(Router, RejectsMalformedTablesWithoutChangingAnything) {
  Router router;
  ASSERT_TRUE(router.update(table("round-robin", 2)).ok());
  FlatRoutes dup = table("round-robin", 2);
  dup.replicas.push_back(dup.replicas[0]);
  EXPECT_THAT(router.update(dup).error().message, HasSubstr("replica \"r0\" is listed twice"));
  FlatRoutes neg = table("round-robin", 2);
  neg.revisions = {{"v1", -1}};
  EXPECT_THAT(router.update(neg).error().message, HasSubstr("negative weight"));
  EXPECT_EQ(router.replicas("llama-70b", TimePoint{}).size(), 2u);
}

TEST(Router, ReasonSaysWhyNoReplicaIsReady) {
  Router router;
  FlatRoutes t = table("round-robin", 4);
  t.replicas[0].draining = true;
  t.replicas[1].draining = true;
  t.replicas[2].ready = false;
  t.replicas[3].ready = false;
  ASSERT_TRUE(router.update(t).ok());
  ManualClock clock;
  auto p = router.pick(request(), clock.now());
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(p.error().message,
            "no ready replica for model \"llama-70b\": 2 starting (not ready), 2 draining");

  ASSERT_TRUE(router.update(table("round-robin", 0)).ok());
  EXPECT_EQ(router.pick(request(), clock.now()).error().message,
            "no ready replica for model \"llama-70b\": it has no replicas");
}

bool ejected(const Router& router, std::string_view id, TimePoint now) {
  for (const ReplicaStatus& s : router.replicas("llama-70b", now))
    if (s.view.id == id) return s.ejected;
  ADD_FAILURE() << "no replica " << id;
  return false;
}

// Fails requests on `id` until the router has tried it `failures` times.
void fail_on(Router& router, std::string_view id, int failures, TimePoint now) {
  for (int sent = 0, tries = 0; sent < failures && tries < 100; ++tries) {
    auto p = router.pick(request(), now);
    ASSERT_TRUE(p.ok());
    const bool bad = p->replica == id;
    router.finish(p->ticket, bad ? Outcome::kServerError : Outcome::kSuccess, now);
    sent += bad ? 1 : 0;
  }
}

// The ejection cap counts the replicas that can serve: the other one draining or starting
// leaves a failing replica all there is, and it is not ejected (#17, defect 7).
TEST(Router, TheOnlyServingReplicaIsNeverEjected) {
  Router router;
  FlatRoutes t = table("round-robin", 3);
  t.replicas[0].draining = true;
  t.replicas[1].ready = false;
  ASSERT_TRUE(router.update(t).ok());
  ManualClock clock;
  fail_on(router, "r2", 20, clock.now());
  EXPECT_FALSE(ejected(router, "r2", clock.now()));
  EXPECT_EQ(router.pick(request(), clock.now())->replica, "r2");
}

// An ejected replica that becomes the model's only routable one takes traffic again (Envoy's
// panic routing) instead of every request getting a 503 while the controller shows it Ready.
TEST(Router, PanicRoutesToAnEjectedReplicaWhenNothingElseIsRoutable) {
  Router router;
  ASSERT_TRUE(router.update(table("round-robin", 2)).ok());
  ManualClock clock;
  fail_on(router, "r0", 5, clock.now());
  ASSERT_TRUE(ejected(router, "r0", clock.now()));
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(router.pick(request(), clock.now())->replica, "r1");

  FlatRoutes only_r0 = table("round-robin", 1);  // r1 left routing
  ASSERT_TRUE(router.update(only_r0).ok());
  EXPECT_TRUE(ejected(router, "r0", clock.now()));  // still ejected, yet routed to
  for (int i = 0; i < 10; ++i) {
    auto p = router.pick(request(), clock.now());
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->replica, "r0");
  }
}

// A restart (the table's count grew) or a return to Ready ends the ejection: the new process
// did not fail anything.
TEST(Router, ARestartOrAReturnToReadyEndsTheEjection) {
  Router router;
  FlatRoutes t = table("round-robin", 3);
  ASSERT_TRUE(router.update(t).ok());
  ManualClock clock;
  fail_on(router, "r0", 5, clock.now());
  ASSERT_TRUE(ejected(router, "r0", clock.now()));
  ASSERT_TRUE(router.update(t).ok());  // the same table changes nothing
  EXPECT_TRUE(ejected(router, "r0", clock.now()));
  t.replicas[0].restarts = 1;
  ASSERT_TRUE(router.update(t).ok());
  EXPECT_FALSE(ejected(router, "r0", clock.now()));
  std::map<std::string, int> picks;
  for (int i = 0; i < 30; ++i)
    ++picks[std::string(router.pick(request(), clock.now())->replica)];
  EXPECT_EQ(picks["r0"], 10);

  fail_on(router, "r1", 5, clock.now());
  ASSERT_TRUE(ejected(router, "r1", clock.now()));
  t.replicas[1].ready = false;
  ASSERT_TRUE(router.update(t).ok());
  t.replicas[1].ready = true;
  ASSERT_TRUE(router.update(t).ok());
  EXPECT_FALSE(ejected(router, "r1", clock.now()));
}

TEST(Router, CanaryGetsExactlyItsWeightAndWeightZeroGetsNothing) {
  Router router;
  FlatRoutes t = table("least-outstanding", 8, "stable");
  t.replicas.push_back({"canary-0", "canary", true, false});
  t.replicas.push_back({"dark-0", "next", true, false});
  t.revisions = {{"stable", 95}, {"canary", 5}, {"next", 0}};
  ASSERT_TRUE(router.update(t).ok());
  for (int window = 0; window < 20; ++window) {
    std::map<std::string, int> by_revision;
    for (int i = 0; i < 100; ++i) {
      auto p = router.pick(request(), TimePoint{});
      ASSERT_TRUE(p.ok());
      ++by_revision[std::string(p->revision)];
      router.finish(p->ticket, Outcome::kSuccess, TimePoint{});
    }
    EXPECT_EQ(by_revision["canary"], 5);
    EXPECT_EQ(by_revision["stable"], 95);
    EXPECT_EQ(by_revision["next"], 0);
  }
  // A replica of a revision the controller gave no weight is dark too.
  t.replicas.push_back({"x-0", "unlisted", true, false});
  ASSERT_TRUE(router.update(t).ok());
  for (int i = 0; i < 200; ++i)
    EXPECT_NE(router.pick(request(), TimePoint{})->replica, "x-0");
}

TEST(Router, WhenTheCanaryHasNoReadyReplicaStableTakesEverything) {
  Router router;
  FlatRoutes t = table("round-robin", 2, "stable");
  t.replicas.push_back({"canary-0", "canary", false, false});
  t.revisions = {{"stable", 90}, {"canary", 10}};
  ASSERT_TRUE(router.update(t).ok());
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(router.pick(request(), TimePoint{})->revision, "stable");
}

TEST(Router, EjectionCapHoldsAcrossTheModel) {
  Router router;  // max 50%
  ASSERT_TRUE(router.update(table("round-robin", 4)).ok());
  ManualClock clock;
  // Every replica fails everything for a while.
  for (int i = 0; i < 200; ++i) {
    auto p = router.pick(request(), clock.now());
    ASSERT_TRUE(p.ok()) << "the cap must leave replicas to route to";
    router.finish(p->ticket, Outcome::kConnectFailure, clock.now());
    int ejected = 0;
    for (const ReplicaStatus& s : router.replicas("llama-70b", clock.now()))
      ejected += s.ejected;
    ASSERT_LE(ejected, 2);
    clock.advance(std::chrono::milliseconds(500));
  }
  bool refused = false;
  for (const RoutingEvent& e : router.take_events()) {
    EXPECT_EQ(e.model, "llama-70b");
    if (e.message.find("not ejected") != std::string::npos) refused = true;
  }
  EXPECT_TRUE(refused);
  EXPECT_TRUE(router.take_events().empty());
}

TEST(Router, UpdateKeepsLoadOfReplicasThatStayAndTicketsOfRemovedOnesAreNoOps) {
  Router router;
  ASSERT_TRUE(router.update(table("least-outstanding", 2)).ok());
  auto a = router.pick(request(), TimePoint{});
  auto b = router.pick(request(), TimePoint{});
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string a_id(a->replica);
  // Remove a's replica, add a new one (it may reuse the slot).
  FlatRoutes t = table("least-outstanding", 0);
  const std::string b_id(b->replica);
  t.replicas = {{b_id, "v1", true, false}, {"r9", "v1", true, false}};
  ASSERT_TRUE(router.update(t).ok());
  router.finish(a->ticket, Outcome::kServerError, TimePoint{});  // a's replica is gone: no-op
  for (const ReplicaStatus& s : router.replicas("llama-70b", TimePoint{})) {
    if (s.view.id == b_id) {
      EXPECT_EQ(s.view.outstanding, 1);
    }
    if (s.view.id == "r9") {
      EXPECT_EQ(s.view.outstanding, 0);
    }
    EXPECT_NE(s.view.id, a_id);
  }
  router.finish(b->ticket, Outcome::kSuccess, TimePoint{});
  EXPECT_EQ(router.replicas("llama-70b", TimePoint{})[0].view.outstanding, 0);
  // Removing the model makes every ticket a no-op too.
  EXPECT_TRUE(router.remove("llama-70b"));
  EXPECT_FALSE(router.remove("llama-70b"));
  router.finish(b->ticket, Outcome::kSuccess, TimePoint{});
}

// Through the router: a table update that removes or adds one replica moves only the sessions
// that were on it (or go to it); everyone else keeps their replica and its KV cache.
TEST(Router, RingStaysStableForUnchangedReplicas) {
  PolicyConfig pc;
  pc.load_factor = 1000;  // take bounded loads out of the picture: pure ring placement
  Router router(RouterConfig{pc, {}});
  ASSERT_TRUE(router.update(table("session-affinity", 10)).ok());
  constexpr int kSessions = 5000;
  auto place_all = [&] {
    std::vector<std::string> where;
    for (int s = 0; s < kSessions; ++s) {
      const std::string key = "session-" + std::to_string(s);
      RouteRequest r = request();
      r.session_key = key;
      auto p = router.pick(r, TimePoint{});
      where.emplace_back(p->replica);
      router.finish(p->ticket, Outcome::kSuccess, TimePoint{});
    }
    return where;
  };
  const auto before = place_all();
  FlatRoutes t = table("session-affinity", 10);
  t.replicas.erase(t.replicas.begin() + 4);
  ASSERT_TRUE(router.update(t).ok());
  const auto after_remove = place_all();
  int moved = 0;
  for (int s = 0; s < kSessions; ++s)
    if (after_remove[s] != before[s]) {
      ++moved;
      EXPECT_EQ(before[s], "r4");
    }
  EXPECT_NEAR(static_cast<double>(moved) / kSessions, 0.1, 0.05);

  t.replicas.push_back({"r10", "v1", true, false});
  ASSERT_TRUE(router.update(t).ok());
  const auto after_add = place_all();
  moved = 0;
  for (int s = 0; s < kSessions; ++s)
    if (after_add[s] != after_remove[s]) {
      ++moved;
      EXPECT_EQ(after_add[s], "r10");
    }
  EXPECT_NEAR(static_cast<double>(moved) / kSessions, 0.1, 0.05);
}

TEST(Router, RetriesAvoidReplicasAlreadyTried) {
  Router router;
  ASSERT_TRUE(router.update(table("session-affinity", 3)).ok());
  RouteRequest r = request();
  r.session_key = "u1";
  auto first = router.pick(r, TimePoint{});
  const std::string tried(first->replica);
  router.finish(first->ticket, Outcome::kConnectFailure, TimePoint{});
  std::vector<std::string_view> avoid = {tried};
  r.avoid = avoid;
  auto retry = router.pick(r, TimePoint{});
  ASSERT_TRUE(retry.ok());
  EXPECT_NE(retry->replica, tried);
  const std::string second(retry->replica);
  avoid = {tried, second, "r0", "r1", "r2"};
  r.avoid = avoid;
  EXPECT_THAT(router.pick(r, TimePoint{}).error().message,
              HasSubstr("3 already tried by this request"));
}

TEST(Router, LoadReportsAreValidatedAndReachKvAware) {
  Router router;
  ASSERT_TRUE(router.update(table("kv-aware", 3)).ok());
  EXPECT_EQ(router.report_load("llama-70b", "r9", {0.5, 1}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(router.report_load("nope", "r0", {0.5, 1}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(router.report_load("llama-70b", "r0", {1.5, {}}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(router.report_load("llama-70b", "r0", {{}, -1}).error().code,
            ErrorCode::kInvalidArgument);
  ASSERT_TRUE(router.report_load("llama-70b", "r0", {0.95, 4}).ok());
  ASSERT_TRUE(router.report_load("llama-70b", "r1", {0.10, 0}).ok());
  ASSERT_TRUE(router.report_load("llama-70b", "r2", {0.20, 0}).ok());
  auto p = router.pick(request(), TimePoint{});
  EXPECT_EQ(p->replica, "r1");
  ASSERT_TRUE(router.report_load("llama-70b", "r1", {{}, 2}).ok());  // kv usage kept
  EXPECT_EQ(router.replicas("llama-70b", TimePoint{})[1].view.kv_cache_usage, 0.10);
  // Forgotten: unknown again (kv-aware scores it at the others' mean), not zero.
  ASSERT_TRUE(router.forget_load("llama-70b", "r1").ok());
  const ReplicaView v = router.replicas("llama-70b", TimePoint{})[1].view;
  EXPECT_FALSE(v.kv_cache_usage.has_value());
  EXPECT_FALSE(v.queue_length.has_value());
  EXPECT_EQ(router.forget_load("llama-70b", "r9").error().code, ErrorCode::kNotFound);
}

TEST(Router, ChangingThePolicyTakesEffectOnUpdate) {
  Router router;
  ASSERT_TRUE(router.update(table("round-robin", 2)).ok());
  EXPECT_EQ(router.policy("llama-70b")->name(), "round-robin");
  ASSERT_TRUE(router.update(table("prefix-affinity", 2)).ok());
  EXPECT_EQ(router.policy("llama-70b")->name(), "prefix-affinity");
  std::vector<uint64_t> blocks = {1, 2, 3};
  RouteRequest r = request();
  r.prefix_blocks = blocks;
  auto a = router.pick(r, TimePoint{});
  router.finish(a->ticket, Outcome::kSuccess, TimePoint{});
  auto b = router.pick(r, TimePoint{});
  EXPECT_EQ(a->replica, b->replica);
  EXPECT_EQ(b->prefix_blocks_matched, 3u);
}

// Property: random picks, finishes, failures, time and table updates never leave a negative
// count, nor one above the tickets not yet finished for that replica.
TEST(RouterProperty, OutstandingNeverNegativeNorAboveUnfinishedTickets) {
  Router router;
  ManualClock clock;
  std::mt19937_64 rng(5);
  ASSERT_TRUE(router.update(table("prefix-affinity", 6)).ok());
  std::vector<std::pair<Ticket, std::string>> open;
  std::vector<uint64_t> blocks;
  for (int i = 0; i < 5000; ++i) {
    const uint64_t op = rng() % 10;
    if (op < 5) {
      blocks = {rng() % 20, 100 + rng() % 5};
      RouteRequest r = request();
      r.prefix_blocks = blocks;
      auto p = router.pick(r, clock.now());
      if (p.ok()) open.emplace_back(p->ticket, std::string(p->replica));
    } else if (op < 9 && !open.empty()) {
      const size_t k = rng() % open.size();
      const Outcome o = rng() % 4 == 0 ? Outcome::kServerError : Outcome::kSuccess;
      router.finish(open[k].first, o, clock.now());
      open.erase(open.begin() + static_cast<long>(k));
    } else {
      FlatRoutes t = table("prefix-affinity", 0);
      for (int r = 0; r < 8; ++r)
        if (rng() % 4 != 0) t.replicas.push_back({"r" + std::to_string(r), "v1", true, false});
      ASSERT_TRUE(router.update(t).ok());
    }
    clock.advance(std::chrono::milliseconds(rng() % 2000));
    std::map<std::string, int> expected;
    for (const auto& [t, id] : open)
      ++expected[id];
    for (const ReplicaStatus& s : router.replicas("llama-70b", clock.now())) {
      ASSERT_GE(s.view.outstanding, 0);
      // Tickets of replicas removed and re-added are no-ops, so only count live generations:
      // outstanding can be lower than open tickets naming that id, never higher.
      ASSERT_LE(s.view.outstanding, expected[s.view.id]) << s.view.id;
    }
  }
}

}  // namespace
}  // namespace gf
