// AdmissionController: the gateway's decision for each request — admit now, queue until capacity
// frees, or reject with an HTTP status, a Retry-After and a reason a user can read. Combines the
// tenants' rate limits (token buckets), concurrency caps, per-model capacity and fair queues.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "admission/concurrency_limit.h"
#include "admission/fair_queue.h"
#include "admission/tenant_directory.h"
#include "admission/token_bucket.h"
#include "common/result.h"
#include "common/units.h"

namespace gf {

struct AdmissionConfig {
  FairQueueConfig queue;  // bounds and DRR quantum of each model's queue
  // How long a request may wait for capacity unless it brings its own deadline.
  Duration queue_timeout = std::chrono::seconds(30);
  // Burst allowances: a tenant's request bucket holds `request_burst` worth of its requests per
  // second, its token bucket `token_burst` worth of its tokens per minute (each at least 1).
  Duration request_burst = std::chrono::seconds(1);
  Duration token_burst = std::chrono::minutes(1);
  // Gateways sharing the tenants' limits behind one balancer. Each enforces 1/gateway_count of
  // every rate (exactly: the rate's period is multiplied) and of every concurrency cap (rounded
  // up, at least 1), so N gateways together allow what the Tenant says rather than N times it.
  // Exact only when the balancer spreads a tenant's requests evenly; a shared limiter would need
  // shared state, which a pure core does not have.
  int gateway_count = 1;
  // Concurrent requests a model takes before requests queue, for models the gateway has not
  // called set_model_capacity for. nullopt: no cap (only tenants' caps queue requests).
  std::optional<int> default_model_capacity;
  // The Retry-After hint when a queue is full or a queued request timed out.
  Duration queue_retry_after = std::chrono::seconds(1);
};

struct AdmitRequest {
  uint64_t id = 0;  // the gateway's handle; unique among requests the controller holds
  // Read during admit() only (the controller keeps its own copies), so views: a request on the
  // gateway's hot path copies no names.
  std::string_view tenant;
  std::string_view model;
  Tokens estimated_tokens{0};         // prompt tokens + max_tokens: the most it can use
  std::optional<TimePoint> deadline;  // default: now + queue_timeout
};

// Why a request was refused, for metric labels and the OpenAI error's `code`.
enum class RejectCode {
  kUnknownTenant,    // 403
  kModelNotAllowed,  // 403
  kTooLarge,         // 413: more tokens than the tenant's token bucket can ever hold
  kRequestRate,      // 429: over requests per second
  kTokenRate,        // 429: over tokens per minute
  kTenantQueueFull,  // 429: the tenant already has its maximum waiting
  kQueueFull,        // 503: the model's queue is full
  kTimedOut,         // 503: waited in the queue until its deadline
  kUnavailable,      // 503: the model cannot serve (its replicas crash-loop): said at once
  kDuplicateId,      // 500: the gateway reused an id (a gateway bug)
};
const char* to_string(RejectCode code);

// The request holds a slot: send it now, and call release() when it completes.
struct Admitted {};
// The request waits; dispatch() hands it out when capacity frees, or expire() times it out.
struct Queued {
  TimePoint deadline{};
};
struct Rejected {
  int http_status = 429;
  std::optional<Duration> retry_after;  // exact; the gateway rounds up to whole seconds
  std::string reason;                   // e.g. "tenant acme over 10 requests/s; retry in 100ms"
  RejectCode code = RejectCode::kRequestRate;
};
using AdmitDecision = std::variant<Admitted, Queued, Rejected>;

// A queued request that now holds a slot: send it, then release() it like an admitted one.
struct Dispatched {
  uint64_t id = 0;
  std::string tenant;
  std::string model;
  Duration waited{0};
};

// A queued request that reached its deadline; the gateway answers it with `rejection`.
struct Expired {
  uint64_t id = 0;
  std::string tenant;
  std::string model;
  Duration waited{0};
  Rejected rejection;
};

// What one model has in flight and waiting: the demand the gateway reports to the controller.
struct ModelDemand {
  int in_flight = 0;
  std::optional<int> capacity;
  FairQueueStats queued;
};

class AdmissionController {
 public:
  // Errors: a tenant whose limits cannot be represented exactly (see TokenBucket::create).
  static Result<AdmissionController> create(const TenantDirectory& tenants, AdmissionConfig config,
                                            TimePoint now);
  // Move-only: held requests point into the controller's own tables (moving keeps them valid).
  AdmissionController(AdmissionController&&) = default;
  AdmissionController& operator=(AdmissionController&&) = default;
  AdmissionController(const AdmissionController&) = delete;
  AdmissionController& operator=(const AdmissionController&) = delete;

  // Checks, in order: tenant known, model allowed, estimate within the tenant's token bucket,
  // request and token rates (both, so Retry-After satisfies both), then capacity. Rate limits are
  // charged only for Admitted and Queued; a Rejected request costs nothing.
  AdmitDecision admit(const AdmitRequest& request, TimePoint now);

  // The request (admitted, or dispatched) completed having used `actual_tokens` (prompt +
  // generated). Frees its slots, refunds the unused part of its estimate to the tenant's token
  // bucket (or charges the excess if it used more), and moves queued requests that now fit to
  // dispatch(). kNotFound for an id not held; kFailedPrecondition for one still queued.
  Status release(uint64_t id, Tokens actual_tokens, TimePoint now);

  // The client of a request that has not been sent yet went away: a queued one leaves its queue,
  // one waiting in dispatch() gives its slots back. Its token estimate is refunded (the request
  // rate charge is kept: it was a request). kFailedPrecondition for one in flight (use release),
  // kNotFound for an unknown id.
  Status cancel(uint64_t id, TimePoint now);

  // Queued requests whose deadline has come, removed (their token estimates refunded).
  std::vector<Expired> expire(TimePoint now);
  // When expire() next has something to do: the earliest deadline of a queued request; nullopt
  // when nothing waits. A live gateway sleeps until then; a simulator jumps there.
  std::optional<TimePoint> next_deadline() const;

  // The next queued request that has been given a slot, oldest grant first; nullopt when none.
  // Call after admit() queues, release(), cancel() and set_model_capacity().
  std::optional<Dispatched> dispatch();

  // How many requests `model` takes at once (its replicas' total concurrency); nullopt = no cap,
  // 0 = none (scaled to zero: everything queues and shows as demand). Raising it dispatches.
  void set_model_capacity(std::string_view model, std::optional<int> slots, TimePoint now);

  // Why `model` cannot serve while it has no capacity ("0/2 replicas ready: 2 crash-looping:
  // exited with code 1"), as the controller publishes it; empty when it can or may soon. While
  // set and the model has no capacity, admit() refuses at once with a 503 naming the cause, and
  // expire() hands back every request already waiting, instead of holding each for the whole
  // queue timeout to answer "scaled to zero" (#17, defect 12).
  void set_model_unavailable(std::string_view model, std::string reason, TimePoint now);

  ModelDemand demand(std::string_view model, TimePoint now) const;
  // Every model the controller has seen.
  std::map<std::string, ModelDemand, std::less<>> demand(TimePoint now) const;
  int tenant_in_flight(std::string_view tenant) const;

 private:
  struct TenantState {
    TenantSpec spec;
    std::optional<TokenBucket> requests;  // requests per second
    std::optional<TokenBucket> tokens;    // tokens per minute
    ConcurrencyLimit concurrency;
  };
  struct ModelState {
    ConcurrencyLimit slots;
    FairQueue queue;
    std::string unavailable;  // set_model_unavailable()
    TimePoint unavailable_since{};
    // Refuses now: it has no capacity and the controller said why none is coming.
    bool refusing() const { return !unavailable.empty() && slots.limit() == 0; }
  };
  using Models = std::map<std::string, ModelState, std::less<>>;
  // The refusal of a request for a model that cannot serve (ModelState::refusing).
  Rejected unavailable(std::string_view model, const std::string& why) const;
  enum class Phase { kQueued, kReady, kInFlight };
  struct Pending {
    // Into tenants_ and models_, whose entries are never erased and whose nodes never move: the
    // request's release finds them without a lookup by name.
    TenantState* tenant = nullptr;
    Models::value_type* model = nullptr;
    Tokens estimate{0};
    TimePoint arrived{};
    Phase phase = Phase::kInFlight;
  };

  AdmissionController() = default;
  Models::value_type& model_state(std::string_view model);
  // Hands queued requests that now fit a slot to dispatch(), one per model in turn, starting
  // with `first`.
  void pump(std::string_view first, TimePoint now);
  void free_slots(const Pending& p);
  void refund_tokens(const Pending& p, TimePoint now);

  AdmissionConfig config_;
  std::map<std::string, TenantState, std::less<>> tenants_;
  Models models_;
  std::unordered_map<uint64_t, Pending> requests_;
  std::deque<Dispatched> ready_;
};

}  // namespace gf
