// Serving: one request's way through a gateway, as decisions — tenant rights, admission and the
// wait for capacity, the replica, what an attempt's outcome means (retry or answer), the retry
// budget, the release with the tokens actually used, and the traffic and demand counted for the
// controller. Pure: no I/O, no threads, no clock; `now` comes in. The live gateway and a
// simulator drive the same object:
//
//   admit ─► (queued: dispatch / expire / cancel) ─► pick ─► retry_head / fail / succeed ─► pick
//   again or finish (release with actual tokens)
//
// Not thread-safe: a gateway calls it from one event loop.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "admission/admission_controller.h"
#include "admission/tenant_directory.h"
#include "common/result.h"
#include "common/routing_table.h"
#include "common/traffic_report.h"
#include "common/units.h"
#include "routing/router.h"
#include "serving/failure.h"
#include "serving/retry_budget.h"
#include "serving/traffic_counter.h"

namespace gf {

struct ServingConfig {
  AdmissionConfig admission;
  RouterConfig router;
  RetryBudgetConfig retry_budget;
  int max_retries = 2;               // other replicas tried while nothing reached the client
  int64_t default_max_tokens = 256;  // a request's output estimate when it sets no max_tokens
  // Requests one replica takes at once; a model takes replicas × this. 0 = no limit.
  int replica_concurrency = 0;
};

// The core's handle for one request, from admit() to its end (finish, cancel or expiry).
using RequestId = uint64_t;

// What the gateway knows of a request when it arrives. Read during admit() only.
struct Arrival {
  const TenantSpec* tenant = nullptr;  // authenticated; outlives the request (the directory's)
  std::string_view model;
  Tokens prompt_tokens{0};  // estimated without a tokenizer (prompt bytes / 4)
  std::optional<int64_t> max_tokens;
};

// Admitted or queued: the request is the core's until it ends.
struct Entered {
  RequestId id = 0;
  uint32_t model = 0;  // the model's index in the current table (models()), for shell caches
  bool queued = false;
  TimePoint deadline{};  // queued: when it expires
};

enum class RefusalKind : uint8_t {
  kUnknownModel,  // 404: no deployment serves it
  kNotAllowed,    // 403: the tenant, or the model's tenant list, forbids it
  kAdmission,     // a limit, a full queue or a queue timeout (the status says which)
};

// A request answered without a replica. `code` is the OpenAI error code (a static string).
struct Refusal {
  RefusalKind kind = RefusalKind::kAdmission;
  int http_status = 429;
  std::string reason;
  std::string_view code;
  std::optional<Duration> retry_after;
  uint32_t model = 0;  // kNotAllowed, kAdmission: the model's index
};
using AdmitResult = std::variant<Entered, Refusal>;

// A queued request that waited until its deadline: answer it with `refusal`. It has ended.
struct Expiry {
  RequestId id = 0;
  Refusal refusal;
};

// Routing facts of a request, passed to each pick (views the gateway owns for the request).
struct RouteHints {
  std::string_view session_key;
  std::span<const uint64_t> prefix_blocks;
};

// Send the request to this replica. `replica` stays valid (and in place) until the request's
// next pick() or its finish(): the gateway keys its per-attempt state on it without a copy.
struct Attempt {
  const std::string* replica = nullptr;
  std::string_view revision;
  bool retry = false;  // not the request's first attempt (a retry the budget allowed)
};
// No replica will take it: answer 503. `reason` is empty when the retries (or the retry
// budget) ran out, or the last failure may not be retried; the gateway then names that failure.
struct GiveUp {
  std::string reason;
  bool retry = false;  // the retry budget allowed a retry, but no replica was left to take it
};
using PickResult = std::variant<Attempt, GiveUp>;

// What one request consumed: the replica's usage when it reported one, else estimates.
struct UsedTokens {
  Tokens prompt{0};
  Tokens output{0};
};

// The end of one attempt.
struct AttemptEnd {
  Outcome outcome = Outcome::kSuccess;  // for the per-replica metrics
  bool retry = false;                   // pick() again; else answer the client
};

class Serving {
 public:
  // Errors: a tenant whose limits cannot be represented, an invalid router config.
  static Result<Serving> create(const TenantDirectory& tenants, ServingConfig config,
                                TimePoint now);
  Serving(Serving&&) noexcept;
  Serving& operator=(Serving&&) noexcept;
  ~Serving();

  // ---- the routing table

  // Replaces the table: routes, tenant lists and each model's capacity (replicas × replica
  // concurrency; 0 without replicas). Requests in flight keep their tickets.
  Status apply_table(const RoutingTable& table, TimePoint now);
  const RoutingTable& table() const { return table_; }
  // The index of `model` in table().models, nullopt when not served.
  std::optional<uint32_t> model_index(std::string_view model) const;
  // Tenant rights, checked here only: the tenant's own model list and the model's tenant list.
  bool allows(const TenantSpec& tenant, uint32_t model) const;

  // ---- one request

  AdmitResult admit(const Arrival& arrival, TimePoint now);
  // A queued request that now holds a slot; nullopt when none. Call after anything that frees
  // capacity (admit queued, finish, cancel, expire, apply_table).
  std::optional<RequestId> dispatch();
  // Queued requests whose deadline has come; they have ended.
  std::vector<Expiry> expire(TimePoint now);
  // The client left before the request was sent (queued, or dispatched and not picked): it ends
  // and its token estimate is refunded.
  void cancel(RequestId id, TimePoint now);

  PickResult pick(RequestId id, const RouteHints& hints, TimePoint now);
  // The replica's response head arrived with `status`: should it go to another replica instead
  // of the client? True for a 5xx with retries left; the gateway then ends the attempt with
  // fail(kUpstream5xx). False: pass the response on, then succeed() or fail(). A query only, so
  // the common answer costs the gateway no clock read.
  bool retry_head(RequestId id, int status) const;
  // The attempt failed; `elapsed` since the request arrived.
  AttemptEnd fail(RequestId id, Failure failure, AttemptPhase phase, Duration elapsed,
                  TimePoint now);
  // The response reached the client whole; `first_byte`: when its first byte did.
  Outcome succeed(RequestId id, int status, Duration first_byte, TimePoint now);
  // The request has ended after it was admitted or dispatched: frees its slots and charges its
  // tenant the tokens it actually used (refunding the rest of the estimate, or charging the
  // excess). An attempt still open ends as cancelled.
  void finish(RequestId id, UsedTokens used, TimePoint now);
  // The same when only the total is known (counted as prompt: no decode pace is recorded).
  void finish(RequestId id, Tokens used, TimePoint now);

  // ---- time and reports

  // The earliest time at which the core has something to do (a queued request's deadline:
  // expire()); nullopt when nothing. A live gateway sleeps until then; a simulator jumps there.
  std::optional<TimePoint> next_deadline() const;
  // Traffic per (model, revision) since the last call, and each model's demand now.
  TrafficReport take_report(TimePoint now);
  ModelDemand demand(std::string_view model, TimePoint now) const;

  // For tests and status pages.
  int live_requests() const { return live_; }
  // Index of each served model by name, in name order.
  const std::map<std::string, uint32_t, std::less<>>& models_by_name() const {
    return model_index_;
  }
  const Router& router() const { return router_; }
  const RetryBudget& retry_budget() const { return budget_; }

 private:
  struct Flight;
  Serving(ServingConfig config, AdmissionController admission);
  Flight* find(RequestId id) const;
  RequestId start(const Arrival& arrival, Tokens estimate);
  void end(Flight& f);
  void end_attempt(Flight& f, Outcome outcome, TimePoint now);
  Refusal refusal(const Rejected& r, uint32_t model) const;

  ServingConfig config_;
  AdmissionController admission_;
  Router router_;
  RetryBudget budget_;
  TrafficCounter traffic_;
  RoutingTable table_;
  std::map<std::string, uint32_t, std::less<>> model_index_;
  // Requests by slot (the low 32 bits of a RequestId; the high bits are the slot's generation).
  // Each Flight stays in place, and a slot's buffers are reused by the next request.
  std::vector<std::unique_ptr<Flight>> flights_;
  std::vector<uint32_t> free_;
  int live_ = 0;
};

}  // namespace gf
