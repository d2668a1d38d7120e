#include "admission/admission_controller.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace gf {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TenantSpec tenant(std::string name) {
  TenantSpec t;
  t.name = std::move(name);
  return t;
}

class AdmissionTest : public ::testing::Test {
 protected:
  void init(std::vector<TenantSpec> tenants, AdmissionConfig config = {}) {
    auto dir = TenantDirectory::create(std::move(tenants));
    ASSERT_TRUE(dir.ok()) << dir.error().describe();
    auto c = AdmissionController::create(*dir, config, clock.now());
    ASSERT_TRUE(c.ok()) << c.error().describe();
    ctl.emplace(std::move(c).value());
  }
  AdmitDecision admit(const std::string& tenant, int64_t tokens = 100,
                      const std::string& model = "llama") {
    return ctl->admit(AdmitRequest{next_id++, tenant, model, Tokens(tokens), std::nullopt},
                      clock.now());
  }
  static bool admitted(const AdmitDecision& d) { return std::holds_alternative<Admitted>(d); }
  static bool queued(const AdmitDecision& d) { return std::holds_alternative<Queued>(d); }
  // The next dispatched id, 0 when there is none.
  uint64_t next_dispatched() {
    auto d = ctl->dispatch();
    return d ? d->id : 0;
  }
  static std::optional<ErrorCode> code_of(const Status& s) {
    if (s.ok()) return std::nullopt;
    return s.error().code;
  }
  static Rejected rejected(const AdmitDecision& d) {
    EXPECT_TRUE(std::holds_alternative<Rejected>(d));
    return std::holds_alternative<Rejected>(d) ? std::get<Rejected>(d) : Rejected{};
  }

  ManualClock clock;
  std::optional<AdmissionController> ctl;
  uint64_t next_id = 1;
};

TEST_F(AdmissionTest, OpenModeAdmitsEverything) {
  init({});
  for (int i = 0; i < 100; ++i)
    EXPECT_TRUE(admitted(admit("anonymous", 100000)));
  EXPECT_EQ(ctl->tenant_in_flight("anonymous"), 100);
}

TEST_F(AdmissionTest, RequestRateIsExact) {
  TenantSpec acme = tenant("acme");
  acme.requests_per_second = 10;
  AdmissionConfig config;
  config.request_burst = milliseconds(500);  // burst 5
  init({acme}, config);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(admitted(admit("acme"))) << i;
    ASSERT_TRUE(ctl->release(next_id - 1, Tokens(100), clock.now()).ok());
  }
  Rejected r = rejected(admit("acme"));
  EXPECT_EQ(r.http_status, 429);
  EXPECT_EQ(r.code, RejectCode::kRequestRate);
  EXPECT_EQ(r.retry_after, milliseconds(100));
  EXPECT_EQ(r.reason, "tenant acme over 10 requests/s; retry in 100ms");
  clock.advance(milliseconds(40));
  EXPECT_EQ(rejected(admit("acme")).retry_after, milliseconds(60));
  clock.advance(milliseconds(60));
  EXPECT_TRUE(admitted(admit("acme")));  // the 6th, after exactly 100 ms
  EXPECT_EQ(rejected(admit("acme")).retry_after, milliseconds(100));
}

TEST_F(AdmissionTest, TokenRateRetryCoversBothLimitsAndRejectsChargeNothing) {
  TenantSpec acme = tenant("acme");
  acme.requests_per_second = 1;
  acme.tokens_per_minute = Tokens(6000);  // one token every 10 ms
  init({acme});
  ASSERT_TRUE(admitted(admit("acme", 5000)));
  // Both limits say wait: 1 s for the request, (5000 + 1000 - 6000 ... ) for tokens.
  Rejected r = rejected(admit("acme", 4000));
  // Tokens: 1000 left, 3000 missing at 10 ms each = 30 s, longer than the request's 1 s.
  EXPECT_EQ(r.code, RejectCode::kTokenRate);
  EXPECT_EQ(r.retry_after, seconds(30));
  EXPECT_EQ(r.reason, "tenant acme over 6000 tokens/min (this request may use 4000); retry in 30s");
  clock.advance(seconds(1));
  // The refused requests took nothing: 1000 + 100 tokens now.
  Rejected r2 = rejected(admit("acme", 1200));
  EXPECT_EQ(r2.retry_after, seconds(1));
  EXPECT_TRUE(admitted(admit("acme", 1100)));
}

TEST_F(AdmissionTest, ReleaseRefundsUnusedTokensAndChargesExcess) {
  TenantSpec acme = tenant("acme");
  acme.tokens_per_minute = Tokens(1000);
  init({acme});
  ASSERT_TRUE(admitted(admit("acme", 1000)));  // id 1: estimate 1000
  EXPECT_EQ(rejected(admit("acme", 1)).retry_after, milliseconds(60));
  ASSERT_TRUE(ctl->release(1, Tokens(400), clock.now()).ok());  // 600 back
  ASSERT_TRUE(admitted(admit("acme", 600)));                    // id 3
  EXPECT_FALSE(admitted(admit("acme", 1)));
  ASSERT_TRUE(ctl->release(3, Tokens(700), clock.now()).ok());  // 100 more than estimated
  EXPECT_EQ(rejected(admit("acme", 1)).retry_after, milliseconds(101 * 60));
  // Releasing twice is an error and refunds nothing.
  Status again = ctl->release(3, Tokens(0), clock.now());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
}

TEST_F(AdmissionTest, TooLargeIsNotRetryable) {
  TenantSpec acme = tenant("acme");
  acme.tokens_per_minute = Tokens(10000);
  init({acme});
  Rejected r = rejected(admit("acme", 10001));
  EXPECT_EQ(r.http_status, 413);
  EXPECT_EQ(r.code, RejectCode::kTooLarge);
  EXPECT_EQ(r.retry_after, std::nullopt);
  EXPECT_NE(r.reason.find("lower max_tokens"), std::string::npos) << r.reason;
  EXPECT_TRUE(admitted(admit("acme", 10000)));
}

TEST_F(AdmissionTest, ModelAllowListAndUnknownTenant) {
  TenantSpec acme = tenant("acme");
  acme.models = {"llama"};
  init({acme});
  EXPECT_TRUE(admitted(admit("acme", 1, "llama")));
  Rejected r = rejected(admit("acme", 1, "qwen"));
  EXPECT_EQ(r.http_status, 403);
  EXPECT_EQ(r.code, RejectCode::kModelNotAllowed);
  EXPECT_EQ(r.reason, "tenant acme may not use model qwen (allowed: llama)");
  EXPECT_EQ(rejected(admit("nobody")).code, RejectCode::kUnknownTenant);
  // A reused id is a gateway bug.
  EXPECT_EQ(rejected(ctl->admit(AdmitRequest{1, "acme", "llama", Tokens(1)}, clock.now())).code,
            RejectCode::kDuplicateId);
}

TEST_F(AdmissionTest, ConcurrencyCapQueuesAndReleaseDispatches) {
  TenantSpec acme = tenant("acme");
  acme.max_concurrency = 2;
  init({acme, tenant("other")});
  ASSERT_TRUE(admitted(admit("acme")));   // 1
  ASSERT_TRUE(admitted(admit("acme")));   // 2
  ASSERT_TRUE(queued(admit("acme")));     // 3
  ASSERT_TRUE(queued(admit("acme")));     // 4
  EXPECT_TRUE(admitted(admit("other")));  // 5: other tenants are not held up
  EXPECT_EQ(ctl->tenant_in_flight("acme"), 2);
  EXPECT_FALSE(ctl->dispatch());
  Status still_queued = ctl->release(3, Tokens(0), clock.now());
  ASSERT_FALSE(still_queued.ok());
  EXPECT_EQ(still_queued.error().code, ErrorCode::kFailedPrecondition);

  clock.advance(seconds(2));
  ASSERT_TRUE(ctl->release(1, Tokens(100), clock.now()).ok());
  auto d = ctl->dispatch();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->id, 3u);
  EXPECT_EQ(d->tenant, "acme");
  EXPECT_EQ(d->model, "llama");
  EXPECT_EQ(d->waited, seconds(2));
  EXPECT_FALSE(ctl->dispatch());
  EXPECT_EQ(ctl->tenant_in_flight("acme"), 2);
  ASSERT_TRUE(ctl->release(3, Tokens(100), clock.now()).ok());  // a dispatched one releases too
  EXPECT_EQ(next_dispatched(), 4u);
  EXPECT_EQ(ctl->tenant_in_flight("acme"), 2);
}

TEST_F(AdmissionTest, ScaledToZeroQueuesAsDemandThenDispatchesByPriorityAndWeight) {
  TenantSpec chat = tenant("chat");
  chat.priority = 10;
  TenantSpec batch = tenant("batch");
  TenantSpec big = tenant("big");
  big.weight = 3;
  AdmissionConfig config;
  config.queue.quantum = Tokens(100);  // one 100-token request per round per unit of weight
  init({chat, batch, big}, config);
  ctl->set_model_capacity("llama", 0, clock.now());
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(queued(admit("batch", 100)));  // 1..4
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(queued(admit("big", 100)));  // 5..8
  ASSERT_TRUE(queued(admit("chat", 100)));   // 9
  clock.advance(seconds(3));
  ModelDemand demand = ctl->demand("llama", clock.now());
  EXPECT_EQ(demand.capacity, 0);
  EXPECT_EQ(demand.in_flight, 0);
  EXPECT_EQ(demand.queued.length, 9u);
  EXPECT_EQ(demand.queued.tokens, Tokens(900));
  EXPECT_EQ(demand.queued.oldest_wait, seconds(3));
  EXPECT_EQ(demand.queued.tenants["big"].length, 4u);
  EXPECT_EQ(ctl->demand(clock.now()).size(), 1u);

  // The first replica comes up with 5 slots: chat first, then 1:3 between batch and big.
  ctl->set_model_capacity("llama", 5, clock.now());
  std::vector<std::string> order;
  while (auto d = ctl->dispatch())
    order.push_back(d->tenant);
  EXPECT_EQ(order, (std::vector<std::string>{"chat", "batch", "big", "big", "big"}));
  EXPECT_EQ(ctl->demand("llama", clock.now()).in_flight, 5);
  EXPECT_EQ(ctl->demand("llama", clock.now()).queued.length, 4u);
}

TEST_F(AdmissionTest, QueueBoundsReject) {
  AdmissionConfig config;
  config.queue.max_per_tenant = 2;
  config.queue.max_total = 3;
  config.default_model_capacity = 0;
  init({tenant("a"), tenant("b")}, config);
  ASSERT_TRUE(queued(admit("a")));
  ASSERT_TRUE(queued(admit("a")));
  Rejected r = rejected(admit("a"));
  EXPECT_EQ(r.http_status, 429);
  EXPECT_EQ(r.code, RejectCode::kTenantQueueFull);
  EXPECT_EQ(r.retry_after, seconds(1));
  ASSERT_TRUE(queued(admit("b")));
  Rejected full = rejected(admit("b"));
  EXPECT_EQ(full.http_status, 503);
  EXPECT_EQ(full.code, RejectCode::kQueueFull);
}

TEST_F(AdmissionTest, QueuedRequestsTimeOutWithTheRightStatus) {
  TenantSpec capped = tenant("capped");
  capped.max_concurrency = 1;
  capped.tokens_per_minute = Tokens(1000);
  AdmissionConfig config;
  config.queue_timeout = seconds(10);
  init({capped, tenant("other")}, config);
  ctl->set_model_capacity("cold", 0, clock.now());
  EXPECT_EQ(ctl->next_deadline(), std::nullopt);  // nothing waits: nothing to wake for
  const TimePoint start = clock.now();
  ASSERT_TRUE(admitted(admit("capped", 100, "llama")));  // 1
  ASSERT_TRUE(queued(admit("capped", 300, "llama")));    // 2: its own cap
  EXPECT_EQ(ctl->next_deadline(), start + seconds(10));
  ASSERT_TRUE(queued(admit("other", 100, "cold")));  // 3: scaled to zero
  clock.advance(seconds(5));
  ASSERT_TRUE(queued(ctl->admit(
      AdmitRequest{4, "other", "cold", Tokens(1), clock.now() + seconds(1)}, clock.now())));
  next_id = 5;
  // The earliest deadline of any model's queue: request 4's own, not the queue timeout.
  EXPECT_EQ(ctl->next_deadline(), start + seconds(6));
  EXPECT_TRUE(ctl->expire(clock.now()).empty());
  clock.advance(seconds(1));
  EXPECT_EQ(ctl->expire(clock.now()).size(), 1u);
  EXPECT_EQ(ctl->next_deadline(), start + seconds(10));
  clock.advance(seconds(4));
  auto gone = ctl->expire(clock.now());
  ASSERT_EQ(gone.size(), 2u);
  EXPECT_EQ(ctl->next_deadline(), std::nullopt);
  std::map<uint64_t, Expired> by_id;
  for (auto& e : gone)
    by_id.emplace(e.id, e);
  EXPECT_EQ(by_id.at(2).rejection.http_status, 429);
  EXPECT_EQ(by_id.at(2).waited, seconds(10));
  EXPECT_EQ(by_id.at(3).rejection.http_status, 503);
  EXPECT_NE(by_id.at(3).rejection.reason.find("scaled to zero"), std::string::npos);
  EXPECT_EQ(code_of(ctl->cancel(2, clock.now())), ErrorCode::kNotFound);
  // The expired request's 300-token estimate was refunded, so capped's bucket is full again
  // (without the refund it would hold 600 + 166 refilled, too few for 1000).
  EXPECT_TRUE(admitted(admit("other", 1, "llama")));
  ASSERT_TRUE(ctl->release(1, Tokens(100), clock.now()).ok());
  EXPECT_TRUE(admitted(admit("capped", 1000, "llama")));
}

TEST_F(AdmissionTest, CancelQueuedOrDispatchedButNotInFlight) {
  TenantSpec acme = tenant("acme");
  acme.max_concurrency = 1;
  acme.tokens_per_minute = Tokens(1000);
  init({acme});
  ASSERT_TRUE(admitted(admit("acme", 100)));  // 1
  ASSERT_TRUE(queued(admit("acme", 400)));    // 2
  ASSERT_TRUE(queued(admit("acme", 400)));    // 3
  EXPECT_EQ(code_of(ctl->cancel(1, clock.now())), ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(ctl->cancel(2, clock.now()).ok());  // 400 refunded
  EXPECT_EQ(ctl->demand("llama", clock.now()).queued.length, 1u);
  ASSERT_TRUE(ctl->release(1, Tokens(100), clock.now()).ok());
  // 3 now holds the slot, waiting in dispatch(); its client goes away before it is sent.
  ASSERT_TRUE(ctl->cancel(3, clock.now()).ok());
  EXPECT_FALSE(ctl->dispatch());
  EXPECT_EQ(ctl->tenant_in_flight("acme"), 0);
  // Everything but the one completed request came back.
  EXPECT_TRUE(admitted(admit("acme", 900)));
  EXPECT_EQ(code_of(ctl->cancel(99, clock.now())), ErrorCode::kNotFound);
}

TEST_F(AdmissionTest, DeadlineAlreadyPassedIsRefusedNotQueued) {
  init({tenant("a")});
  ctl->set_model_capacity("llama", 0, clock.now());
  Rejected r =
      rejected(ctl->admit(AdmitRequest{1, "a", "llama", Tokens(1), clock.now()}, clock.now()));
  EXPECT_EQ(r.http_status, 503);
  EXPECT_EQ(r.code, RejectCode::kTimedOut);
}

TEST_F(AdmissionTest, ModelCapacityIsShared) {
  init({tenant("a"), tenant("b")});
  ctl->set_model_capacity("llama", 2, clock.now());
  ASSERT_TRUE(admitted(admit("a")));             // 1
  ASSERT_TRUE(admitted(admit("b")));             // 2
  ASSERT_TRUE(queued(admit("a")));               // 3
  ASSERT_TRUE(queued(admit("b")));               // 4
  EXPECT_TRUE(admitted(admit("a", 1, "qwen")));  // other models are separate
  ASSERT_TRUE(ctl->release(2, Tokens(1), clock.now()).ok());
  EXPECT_EQ(next_dispatched(), 3u);
  EXPECT_FALSE(ctl->dispatch());
  // Lowering the capacity below what is in flight holds new requests until it drains.
  ctl->set_model_capacity("llama", 1, clock.now());
  ASSERT_TRUE(ctl->release(1, Tokens(1), clock.now()).ok());
  EXPECT_FALSE(ctl->dispatch());
  ASSERT_TRUE(ctl->release(3, Tokens(1), clock.now()).ok());
  EXPECT_EQ(next_dispatched(), 4u);
  ctl->set_model_capacity("llama", std::nullopt, clock.now());
  EXPECT_TRUE(admitted(admit("a")));
}

TEST_F(AdmissionTest, GatewaysSplitTheTenantsLimits) {
  TenantSpec acme = tenant("acme");
  acme.requests_per_second = 10;
  acme.tokens_per_minute = Tokens(6000);
  acme.max_concurrency = 3;
  AdmissionConfig config;
  config.gateway_count = 2;
  init({acme}, config);
  // This gateway's share: 5 requests/s (burst 5), 3000 tokens/min, 2 in flight.
  ASSERT_TRUE(admitted(admit("acme", 10)));
  ASSERT_TRUE(admitted(admit("acme", 10)));
  EXPECT_TRUE(queued(admit("acme", 10)));
  EXPECT_TRUE(queued(admit("acme", 10)));
  EXPECT_TRUE(queued(admit("acme", 10)));
  Rejected r = rejected(admit("acme", 10));
  EXPECT_EQ(r.code, RejectCode::kRequestRate);
  EXPECT_EQ(r.retry_after, milliseconds(200));
  EXPECT_EQ(rejected(admit("acme", 3001)).http_status, 413);

  config.gateway_count = 0;
  auto dir = TenantDirectory::create({acme});
  EXPECT_FALSE(AdmissionController::create(*dir, config, clock.now()).ok());
}

TEST_F(AdmissionTest, RejectsUnrepresentableLimits) {
  TenantSpec t = tenant("acme");
  t.requests_per_second = 1e12;
  auto dir = TenantDirectory::create({t});
  ASSERT_TRUE(dir.ok());
  auto c = AdmissionController::create(*dir, {}, clock.now());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("tenant acme: requestsPerSecond"), std::string::npos);
}

TEST(RejectCode, Names) {
  EXPECT_STREQ(to_string(RejectCode::kRequestRate), "rate_limit_requests");
  EXPECT_STREQ(to_string(RejectCode::kTimedOut), "queue_timeout");
}

// #17, defect 12: a model whose replicas all crash-loop (the controller says why) refuses at once
// with the cause, and hands back what already waits, instead of holding each request for the
// whole queue timeout to answer "scaled to zero".
TEST_F(AdmissionTest, AModelThatCannotServeRefusesAtOnceWithTheCause) {
  AdmissionConfig config;
  config.queue_timeout = seconds(30);
  init({tenant("a")}, config);
  ctl->set_model_capacity("llama", 0, clock.now());
  ASSERT_TRUE(queued(admit("a")));  // 1: starting from zero, nothing known to be wrong
  ASSERT_TRUE(queued(admit("a")));  // 2
  clock.advance(seconds(3));
  const std::string why = "0 of 2 replicas ready, 2 crash-looping (last: exited with code 1)";
  ctl->set_model_unavailable("llama", why, clock.now());
  ASSERT_TRUE(ctl->next_deadline().has_value());
  EXPECT_LE(*ctl->next_deadline(), clock.now());  // the queue goes back now, not in 27 s
  auto gone = ctl->expire(clock.now());
  ASSERT_EQ(gone.size(), 2u);
  for (const Expired& e : gone) {
    EXPECT_EQ(e.rejection.http_status, 503);
    EXPECT_EQ(e.rejection.code, RejectCode::kUnavailable);
    EXPECT_NE(e.rejection.reason.find(why), std::string::npos) << e.rejection.reason;
    EXPECT_EQ(e.waited, seconds(3));
  }
  EXPECT_EQ(ctl->next_deadline(), std::nullopt);
  const Rejected now = rejected(admit("a"));
  EXPECT_EQ(now.http_status, 503);
  EXPECT_EQ(now.reason, "model llama cannot serve: " + why + "; retry in 1s");
  EXPECT_EQ(to_string(now.code), std::string("model_unavailable"));

  // Capacity back (a replica Ready): served as usual, whatever the stale reason says.
  ctl->set_model_capacity("llama", 4, clock.now());
  EXPECT_TRUE(admitted(admit("a")));
  ctl->set_model_capacity("llama", 0, clock.now());
  ctl->set_model_unavailable("llama", "", clock.now());
  EXPECT_TRUE(queued(admit("a")));  // no reason given: it waits, as scale-from-zero does
}

}  // namespace
}  // namespace gf
