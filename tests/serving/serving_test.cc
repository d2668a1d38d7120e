// The serving core's request paths under a manual clock: admit, queue, pick, outcomes, retries,
// release with the tokens actually used, and the traffic it reports.
#include "serving/serving.h"

#include <gtest/gtest.h>

#include "serving_fixture.h"

namespace gf {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing_serving::model;
using testing_serving::ServingTest;
using testing_serving::tenant;

TEST_F(ServingTest, AdmitPickSucceedFinishLeavesNothingHeld) {
  init({tenant("acme")}, {model("llama", 2)});
  const RequestId id = admitted();
  EXPECT_EQ(core->live_requests(), 1);
  PickResult p = core->pick(id, RouteHints{}, clock.now());
  ASSERT_TRUE(std::holds_alternative<Attempt>(p));
  EXPECT_FALSE(std::get<Attempt>(p).retry);
  EXPECT_EQ(std::get<Attempt>(p).revision, "v1");
  EXPECT_EQ(outstanding(), 1);
  EXPECT_FALSE(core->retry_head(id, 200));
  EXPECT_EQ(core->succeed(id, 200, milliseconds(5), clock.now()), Outcome::kSuccess);
  EXPECT_EQ(outstanding(), 0);
  core->finish(id, Tokens(150), clock.now());
  EXPECT_EQ(core->live_requests(), 0);
  EXPECT_EQ(core->demand("llama", clock.now()).in_flight, 0);
  EXPECT_EQ(core->retry_budget().active(), 0);
}

TEST_F(ServingTest, UnknownModelAndTenantRightsAreRefusedBeforeAdmission) {
  TenantSpec narrow = tenant("narrow");
  narrow.models = {"mistral"};
  RouteModel private_model = model("private", 1);
  private_model.tenants = {"acme"};
  init({tenant("acme"), narrow, tenant("other")},
       {model("llama", 1), model("mistral", 1), private_model});

  auto r = std::get<Refusal>(admit("acme", "nope"));
  EXPECT_EQ(r.kind, RefusalKind::kUnknownModel);
  EXPECT_EQ(r.http_status, 404);
  EXPECT_EQ(r.reason, "The model `nope` does not exist");
  EXPECT_EQ(r.code, "model_not_found");

  r = std::get<Refusal>(admit("narrow", "llama"));  // the tenant's own model list
  EXPECT_EQ(r.kind, RefusalKind::kNotAllowed);
  EXPECT_EQ(r.http_status, 403);
  EXPECT_EQ(r.reason, "tenant narrow may not use model `llama`");
  EXPECT_EQ(r.code, "model_not_allowed");
  r = std::get<Refusal>(admit("other", "private"));  // the model's tenant list
  EXPECT_EQ(r.kind, RefusalKind::kNotAllowed);

  EXPECT_TRUE(std::holds_alternative<Entered>(admit("narrow", "mistral")));
  EXPECT_TRUE(std::holds_alternative<Entered>(admit("acme", "private")));
  EXPECT_TRUE(core->allows(*spec("acme"), *core->model_index("private")));
  EXPECT_FALSE(core->allows(*spec("other"), *core->model_index("private")));
  EXPECT_EQ(core->live_requests(), 2);  // refusals hold nothing
}

TEST_F(ServingTest, AdmissionRefusalCarriesStatusCodeAndRetryAfter) {
  TenantSpec slow = tenant("slow");
  slow.requests_per_second = 1;
  init({slow}, {model("llama", 1)});
  admitted("slow");
  auto r = std::get<Refusal>(admit("slow"));
  EXPECT_EQ(r.kind, RefusalKind::kAdmission);
  EXPECT_EQ(r.http_status, 429);
  EXPECT_EQ(r.code, "rate_limit_requests");
  EXPECT_EQ(r.retry_after, seconds(1));
  EXPECT_EQ(r.model, *core->model_index("llama"));
}

TEST_F(ServingTest, CapacityComesFromTheTableAndQueuedRequestsDispatchInOrder) {
  ServingConfig config;
  config.replica_concurrency = 1;
  init({tenant("acme")}, {model("llama", 2)}, config);
  EXPECT_EQ(core->demand("llama", clock.now()).capacity, 2);
  const RequestId a = admitted();
  const RequestId b = admitted();
  auto c = std::get<Entered>(admit("acme"));
  ASSERT_TRUE(c.queued);
  EXPECT_EQ(core->dispatch(), std::nullopt);
  ASSERT_EQ(pick(a), "r0");
  EXPECT_EQ(core->succeed(a, 200, milliseconds(1), clock.now()), Outcome::kSuccess);
  core->finish(a, Tokens(10), clock.now());
  EXPECT_EQ(core->dispatch(), c.id);
  EXPECT_FALSE(pick(c.id).empty());
  core->finish(c.id, Tokens(10), clock.now());
  core->finish(b, Tokens(10), clock.now());
  EXPECT_EQ(core->live_requests(), 0);
  EXPECT_EQ(outstanding(), 0);
}

TEST_F(ServingTest, ModelWithoutReplicasQueuesUntilReplicasAppear) {
  ServingConfig config;
  config.admission.queue_timeout = seconds(30);
  init({tenant("acme")}, {model("llama", 0)}, config);
  EXPECT_EQ(core->demand("llama", clock.now()).capacity, 0);
  EXPECT_EQ(core->next_deadline(), std::nullopt);
  const TimePoint arrived = clock.now();
  auto e = std::get<Entered>(admit("acme"));
  ASSERT_TRUE(e.queued);
  EXPECT_EQ(e.deadline, arrived + seconds(30));
  EXPECT_EQ(core->next_deadline(), arrived + seconds(30));
  TrafficReport report = core->take_report(clock.now());
  ASSERT_EQ(report.demand.size(), 1u);
  EXPECT_EQ(report.demand[0].model, "llama");
  EXPECT_EQ(report.demand[0].queued, 1);  // the activator's demand signal
  clock.advance(seconds(3));
  ASSERT_TRUE(core->apply_table(RoutingTable{2, {model("llama", 1)}}, clock.now()).ok());
  EXPECT_EQ(core->dispatch(), e.id);
  EXPECT_EQ(core->next_deadline(), std::nullopt);
  EXPECT_EQ(pick(e.id), "r0");
  core->finish(e.id, Tokens(0), clock.now());
  EXPECT_EQ(outstanding(), 0);  // an open attempt ends with its request
}

TEST_F(ServingTest, QueuedRequestExpiresAtItsDeadlineAndEnds) {
  ServingConfig config;
  config.admission.queue_timeout = seconds(10);
  init({tenant("acme")}, {model("llama", 0)}, config);
  auto e = std::get<Entered>(admit("acme"));
  clock.advance(seconds(10) - milliseconds(1));
  EXPECT_TRUE(core->expire(clock.now()).empty());
  clock.set(*core->next_deadline());  // a simulator jumps straight there
  auto gone = core->expire(clock.now());
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].id, e.id);
  EXPECT_EQ(gone[0].refusal.http_status, 503);
  EXPECT_EQ(gone[0].refusal.code, "queue_timeout");
  EXPECT_NE(gone[0].refusal.reason.find("scaled to zero"), std::string::npos);
  EXPECT_EQ(core->live_requests(), 0);
  EXPECT_EQ(core->next_deadline(), std::nullopt);
}

TEST_F(ServingTest, CancelledQueuedRequestEndsAndGetsItsEstimateBack) {
  TenantSpec acme = tenant("acme");
  acme.tokens_per_minute = Tokens(1000);
  init({acme}, {model("llama", 0)});
  auto e = std::get<Entered>(admit("acme", "llama", 100, 500));
  core->cancel(e.id, clock.now());
  EXPECT_EQ(core->live_requests(), 0);
  // Both 600-token requests fit again only if the first's estimate came back.
  EXPECT_TRUE(std::holds_alternative<Entered>(admit("acme", "llama", 100, 500)));
}

TEST_F(ServingTest, ConnectFailureRetriesOnAnotherReplicaAndCountsTheError) {
  init({tenant("acme")}, {model("llama", 2)});
  const RequestId id = admitted();
  const std::string first = pick(id);
  AttemptEnd end =
      core->fail(id, Failure::kConnect, AttemptPhase::kBeforeHead, milliseconds(3), clock.now());
  EXPECT_EQ(end.outcome, Outcome::kConnectFailure);
  EXPECT_TRUE(end.retry);
  PickResult p = core->pick(id, RouteHints{}, clock.now());
  ASSERT_TRUE(std::holds_alternative<Attempt>(p));
  EXPECT_TRUE(std::get<Attempt>(p).retry);
  EXPECT_NE(*std::get<Attempt>(p).replica, first);  // the tried one is avoided
  core->succeed(id, 200, milliseconds(9), clock.now());
  core->finish(id, Tokens(1), clock.now());
  TrafficReport report = core->take_report(clock.now());
  ASSERT_EQ(report.revisions.size(), 1u);
  EXPECT_EQ(report.revisions[0].requests, 2);
  EXPECT_EQ(report.revisions[0].errors, 1);
  EXPECT_TRUE(core->take_report(clock.now()).revisions.empty());  // taken: starts again
}

TEST_F(ServingTest, TimeoutBeforeTheHeadIsAnsweredNotRetried) {
  init({tenant("acme")}, {model("llama", 2)});
  const RequestId id = admitted();
  pick(id);
  AttemptEnd end =
      core->fail(id, Failure::kTimeout, AttemptPhase::kBeforeHead, seconds(600), clock.now());
  EXPECT_EQ(end.outcome, Outcome::kTimeout);
  EXPECT_FALSE(end.retry);
  PickResult p = core->pick(id, RouteHints{}, clock.now());
  ASSERT_TRUE(std::holds_alternative<GiveUp>(p));  // the core, not the shell, forbids a retry
  core->finish(id, Tokens(0), clock.now());
}

TEST_F(ServingTest, ClientGoneIsNeutralAndNotCounted) {
  init({tenant("acme")}, {model("llama", 1)});
  const RequestId id = admitted();
  pick(id);
  AttemptEnd end =
      core->fail(id, Failure::kClientGone, AttemptPhase::kStreaming, seconds(1), clock.now());
  EXPECT_EQ(end.outcome, Outcome::kCancelled);
  EXPECT_FALSE(end.retry);
  core->finish(id, Tokens(0), clock.now());
  EXPECT_TRUE(core->take_report(clock.now()).revisions.empty());
}

TEST_F(ServingTest, UpstreamFiveHundredIsRetriedUntilTheLastAttemptWhichPassesThrough) {
  init({tenant("acme")}, {model("llama", 3)});  // max_retries 2: three attempts
  const RequestId id = admitted();
  for (int attempt = 0; attempt < 2; ++attempt) {
    ASSERT_FALSE(pick(id).empty());
    ASSERT_TRUE(core->retry_head(id, 503)) << attempt;
    AttemptEnd end = core->fail(id, Failure::kUpstream5xx, AttemptPhase::kBeforeHead,
                                milliseconds(1), clock.now());
    EXPECT_EQ(end.outcome, Outcome::kServerError);
    EXPECT_TRUE(end.retry);
  }
  ASSERT_FALSE(pick(id).empty());
  EXPECT_FALSE(core->retry_head(id, 503));  // the last attempt's 5xx: the client gets it
  EXPECT_EQ(core->succeed(id, 503, milliseconds(1), clock.now()), Outcome::kServerError);
  core->finish(id, Tokens(0), clock.now());
  TrafficReport report = core->take_report(clock.now());
  EXPECT_EQ(report.revisions[0].requests, 3);
  EXPECT_EQ(report.revisions[0].errors, 3);
  EXPECT_EQ(outstanding(), 0);
}

TEST_F(ServingTest, RetriesStopAfterMaxRetries) {
  init({tenant("acme")}, {model("llama", 5)});
  const RequestId id = admitted();
  for (int attempt = 0; attempt < 3; ++attempt) {
    ASSERT_FALSE(pick(id).empty()) << attempt;
    EXPECT_TRUE(
        core->fail(id, Failure::kReset, AttemptPhase::kBody, milliseconds(1), clock.now()).retry);
  }
  PickResult p = core->pick(id, RouteHints{}, clock.now());
  ASSERT_TRUE(std::holds_alternative<GiveUp>(p));
  EXPECT_TRUE(std::get<GiveUp>(p).reason.empty());  // the gateway names the last failure
  core->finish(id, Tokens(0), clock.now());
}

TEST_F(ServingTest, NoReplicaLeftGivesUpWithTheRoutersReason) {
  init({tenant("acme")}, {model("llama", 1)});
  const RequestId id = admitted();
  pick(id);
  core->fail(id, Failure::kConnect, AttemptPhase::kBeforeHead, milliseconds(1), clock.now());
  PickResult p = core->pick(id, RouteHints{}, clock.now());
  ASSERT_TRUE(std::holds_alternative<GiveUp>(p));
  EXPECT_TRUE(std::get<GiveUp>(p).retry);  // a retry the budget allowed
  EXPECT_NE(std::get<GiveUp>(p).reason.find("already tried"), std::string::npos);
  core->finish(id, Tokens(0), clock.now());
}

TEST_F(ServingTest, RetryBudgetAllowsTheFloorThenAShareOfRequestsInFlight) {
  init({tenant("acme")}, {model("llama", 20)});  // one failure each: nobody is ejected
  std::vector<RequestId> ids;
  for (int i = 0; i < 10; ++i) {
    ids.push_back(admitted());
    pick(ids.back());
    core->fail(ids.back(), Failure::kConnect, AttemptPhase::kBeforeHead, milliseconds(1),
               clock.now());
  }
  // 10 in flight: the budget is max(3, 0.2 × 10) = 3 retrying requests at once.
  int retried = 0;
  for (RequestId id : ids)
    retried += std::holds_alternative<Attempt>(core->pick(id, RouteHints{}, clock.now()));
  EXPECT_EQ(retried, 3);
  EXPECT_EQ(core->retry_budget().retrying(), 3);
  // A retrying request holds one place however often it retries; its end frees it.
  for (RequestId id : ids)
    core->finish(id, Tokens(0), clock.now());
  EXPECT_EQ(core->retry_budget().retrying(), 0);
  EXPECT_EQ(core->retry_budget().active(), 0);
  EXPECT_EQ(outstanding(), 0);
}

// A refused connection (the engine died or is restarting) never reached the replica: its retry
// takes no place in the budget, so an engine's death does not fail the requests the other
// replicas can serve (the chaos suite found 2 of 104 failing on an engine kill -9).
TEST_F(ServingTest, ARefusedConnectionsRetrySpendsNoBudget) {
  init({tenant("acme")}, {model("llama", 20)});
  std::vector<RequestId> ids;
  for (int i = 0; i < 10; ++i) {
    ids.push_back(admitted());
    pick(ids.back());
    EXPECT_TRUE(core->fail(ids.back(), Failure::kRefused, AttemptPhase::kBeforeHead,
                           milliseconds(1), clock.now())
                    .retry);
  }
  int retried = 0;
  for (RequestId id : ids)
    retried += std::holds_alternative<Attempt>(core->pick(id, RouteHints{}, clock.now()));
  EXPECT_EQ(retried, 10);  // where kConnect allows 3 (the test above)
  EXPECT_EQ(core->retry_budget().retrying(), 0);
  for (RequestId id : ids)
    core->finish(id, Tokens(0), clock.now());
  EXPECT_EQ(outstanding(), 0);
}

TEST_F(ServingTest, TenantIsChargedTheTokensActuallyUsedNotTheEstimate) {
  TenantSpec acme = tenant("acme");
  acme.tokens_per_minute = Tokens(1000);  // bucket of 1000, no refill while the clock stands
  init({acme}, {model("llama", 1)});
  // Estimate 100 prompt + 500 max_tokens = 600; the answer used 150.
  RequestId id = admitted("acme", "llama", 100, 500);
  pick(id);
  core->succeed(id, 200, milliseconds(1), clock.now());
  core->finish(id, Tokens(150), clock.now());
  // 850 left: another 600 fits. Charged the estimate, only 400 would be left.
  id = admitted("acme", "llama", 100, 500);
  core->finish(id, Tokens(600), clock.now());  // 250 left
  auto r = std::get<Refusal>(admit("acme", "llama", 100, 500));
  EXPECT_EQ(r.http_status, 429);
  EXPECT_EQ(r.code, "rate_limit_tokens");
}

TEST_F(ServingTest, UsageOverTheEstimateIsChargedAsDebt) {
  TenantSpec acme = tenant("acme");
  acme.tokens_per_minute = Tokens(1000);
  init({acme}, {model("llama", 1)});
  RequestId id = admitted("acme", "llama", 100, 100);  // estimate 200
  core->finish(id, Tokens(900), clock.now());          // 100 left, not 800
  auto r = std::get<Refusal>(admit("acme", "llama", 100, 100));
  EXPECT_EQ(r.code, "rate_limit_tokens");
  EXPECT_EQ(r.retry_after, milliseconds(6000));  // 100 more tokens at 1000/min
}

TEST_F(ServingTest, DefaultMaxTokensFillsTheEstimate) {
  TenantSpec acme = tenant("acme");
  acme.tokens_per_minute = Tokens(1000);
  ServingConfig config;
  config.default_max_tokens = 900;
  init({acme}, {model("llama", 1)}, config);
  admitted("acme", "llama", 100, std::nullopt);  // 1000: the whole bucket
  EXPECT_TRUE(std::holds_alternative<Refusal>(admit("acme", "llama", 1, 0)));
}

TEST_F(ServingTest, TrafficIsCountedPerRevisionWithTtft) {
  RouteModel canary = model("llama", 1);
  canary.revisions.push_back(RouteRevision{"v2", 1, {RouteReplica{"c0", "127.0.0.1:2"}}});
  init({tenant("acme")}, {canary});
  for (int i = 0; i < 4; ++i) {
    const RequestId id = admitted();
    pick(id);
    core->succeed(id, 200, milliseconds(30), clock.now());
    core->finish(id, Tokens(1), clock.now());
  }
  TrafficReport report = core->take_report(clock.now());
  ASSERT_EQ(report.revisions.size(), 2u);
  for (const RevisionTraffic& t : report.revisions) {
    EXPECT_EQ(t.model, "llama");
    EXPECT_EQ(t.requests, 2) << t.revision;  // weights 1:1
    EXPECT_EQ(t.errors, 0);
    ASSERT_EQ(t.ttft_counts.size(), kTtftBoundsMs.size() + 1);
    EXPECT_EQ(t.ttft_counts[ttft_bucket(30)], 2u);
  }
}

TEST_F(ServingTest, TheTablesEngineLoadReachesTheRouterAndUnknownStaysUnknown) {
  RouteModel m = model("llama", 3, "kv-aware");
  m.revisions[0].replicas[0].kv_cache_usage = 0.9;
  m.revisions[0].replicas[0].queue_length = 6;
  m.revisions[0].replicas[1].kv_cache_usage = 0.1;
  m.revisions[0].replicas[1].queue_length = 0;
  init({tenant("acme")}, {m});  // r2 reports nothing
  auto view = [&](size_t i) { return core->router().replicas("llama", clock.now()).at(i).view; };
  EXPECT_EQ(view(0).kv_cache_usage, 0.9);
  EXPECT_EQ(view(0).queue_length, 6);
  EXPECT_EQ(view(1).kv_cache_usage, 0.1);
  EXPECT_FALSE(view(2).kv_cache_usage.has_value());
  EXPECT_FALSE(view(2).queue_length.has_value());
  // kv-aware weighs them: the emptiest cache with no queue wins every time (r2 is scored at the
  // mean of the others, r0 is nearly full with a queue).
  for (int i = 0; i < 4; ++i) {
    const RequestId id = admitted();
    EXPECT_EQ(pick(id), "r1");
    core->succeed(id, 200, milliseconds(1), clock.now());
    core->finish(id, Tokens(1), clock.now());
  }
  // The next table no longer carries r0's load (its reading went stale): unknown again, not the
  // last value seen.
  m.revisions[0].replicas[0].kv_cache_usage.reset();
  m.revisions[0].replicas[0].queue_length.reset();
  m.revisions[0].replicas[1].queue_length = 3;
  m.revisions[0].replicas[2].kv_cache_usage = 1.5;  // out of range: unknown, the table still goes
  m.revisions[0].replicas[2].queue_length = 1;
  ASSERT_TRUE(core->apply_table(RoutingTable{2, {m}}, clock.now()).ok());
  EXPECT_FALSE(view(0).kv_cache_usage.has_value());
  EXPECT_FALSE(view(0).queue_length.has_value());
  EXPECT_EQ(view(1).queue_length, 3);
  EXPECT_FALSE(view(2).kv_cache_usage.has_value());
}

TEST_F(ServingTest, ATableChangeKeepsRequestsInFlightAndForgetsRemovedModels) {
  init({tenant("acme")}, {model("llama", 2), model("mistral", 1)});
  const RequestId id = admitted();
  pick(id);
  ASSERT_TRUE(core->apply_table(RoutingTable{2, {model("llama", 1)}}, clock.now()).ok());
  EXPECT_EQ(core->model_index("mistral"), std::nullopt);
  EXPECT_EQ(std::get<Refusal>(admit("acme", "mistral")).http_status, 404);
  core->succeed(id, 200, milliseconds(1), clock.now());
  core->finish(id, Tokens(1), clock.now());
  EXPECT_EQ(outstanding(), 0);
  // A bad table changes nothing the requests see.
  RouteModel bad = model("llama", 1);
  bad.policy = "fastest";
  EXPECT_FALSE(core->apply_table(RoutingTable{3, {bad}}, clock.now()).ok());
  EXPECT_EQ(core->table().version, 2u);
}

}  // namespace
}  // namespace gf

namespace gf {
namespace {

// The autoscaler's signals: arrivals and their prompt tokens when admitted, output tokens and
// the decode pace (first byte to end, per token after the first) when they finish.
using testing_serving::ServingTest;

TEST_F(ServingTest, ReportsArrivalsTokensAndDecodePacePerModel) {
  init({testing_serving::tenant("acme")}, {testing_serving::model("llama", 1)});
  const RequestId a = admitted("acme", "llama", 400);
  const RequestId b = admitted("acme", "llama", 100);
  ASSERT_FALSE(pick(a).empty());
  clock.advance(std::chrono::milliseconds(100));
  core->succeed(a, 200, std::chrono::milliseconds(100), clock.now());
  clock.advance(std::chrono::milliseconds(990));  // 11 tokens after the first byte: 99 ms each
  core->finish(a, UsedTokens{Tokens(400), Tokens(11)}, clock.now());
  core->cancel(b, clock.now());
  TrafficReport r = core->take_report(clock.now());
  ASSERT_EQ(r.demand.size(), 1u);
  const ReportedDemand& d = r.demand[0];
  EXPECT_EQ(d.model, "llama");
  EXPECT_EQ(d.arrivals, 2);
  EXPECT_EQ(d.prompt_tokens, 500);
  EXPECT_EQ(d.output_tokens, 11);
  ASSERT_EQ(d.tpot_counts.size(), kTpotBoundsMs.size() + 1);
  EXPECT_EQ(d.tpot_counts[tpot_bucket(99)], 1u);
  EXPECT_EQ(tpot_p95_ms(d.tpot_counts), 100);
  // The counts start again from zero; the snapshot (nothing queued or in flight) stays.
  r = core->take_report(clock.now());
  ASSERT_EQ(r.demand.size(), 1u);
  EXPECT_EQ(r.demand[0].arrivals, 0);
  EXPECT_TRUE(r.demand[0].tpot_counts.empty());
}

}  // namespace
}  // namespace gf
