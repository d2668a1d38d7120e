#include "admission/admission_controller.h"

#include <algorithm>
#include <limits>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace gf {

namespace {

__extension__ typedef __int128 Int128;  // GCC/Clang builtin; only for one wide product below

// Units a bucket of `rate` holds to allow a burst of `window` worth of traffic, at least 1.
int64_t burst_of(TokenRate rate, Duration window) {
  const Int128 units = static_cast<Int128>(rate.amount) * window.count() / rate.period.count();
  // Beyond this the bucket refuses to be created, with an error naming the tenant.
  const Int128 cap = std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(std::clamp<Int128>(units, 1, cap));
}

Rejected reject(int status, RejectCode code, std::string reason,
                std::optional<Duration> retry_after = std::nullopt) {
  return Rejected{status, retry_after, std::move(reason), code};
}

}  // namespace

const char* to_string(RejectCode code) {
  switch (code) {
    case RejectCode::kUnknownTenant:
      return "unknown_tenant";
    case RejectCode::kModelNotAllowed:
      return "model_not_allowed";
    case RejectCode::kTooLarge:
      return "request_too_large";
    case RejectCode::kRequestRate:
      return "rate_limit_requests";
    case RejectCode::kTokenRate:
      return "rate_limit_tokens";
    case RejectCode::kTenantQueueFull:
      return "tenant_queue_full";
    case RejectCode::kQueueFull:
      return "queue_full";
    case RejectCode::kTimedOut:
      return "queue_timeout";
    case RejectCode::kUnavailable:
      return "model_unavailable";
    case RejectCode::kDuplicateId:
      return "duplicate_request_id";
  }
  return "unknown";
}

Result<AdmissionController> AdmissionController::create(const TenantDirectory& tenants,
                                                        AdmissionConfig config, TimePoint now) {
  if (config.gateway_count < 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("gateway count must be >= 1, got {}", config.gateway_count));
  }
  AdmissionController c;
  c.config_ = std::move(config);
  const int n = c.config_.gateway_count;
  for (const TenantSpec& t : tenants.tenants()) {
    std::optional<int> cap = t.max_concurrency;
    if (cap) cap = std::max(1, (*cap + n - 1) / n);
    TenantState s{t, std::nullopt, std::nullopt, ConcurrencyLimit(cap)};
    if (t.requests_per_second) {
      auto rate = TokenRate::per_second(*t.requests_per_second);
      if (!rate.ok()) {
        return make_error(rate.error().code, fmt::format("tenant {}: requestsPerSecond: {}", t.name,
                                                         rate.error().message));
      }
      rate->period *= n;
      auto bucket = TokenBucket::create(*rate, burst_of(*rate, c.config_.request_burst), now);
      if (!bucket.ok()) {
        return make_error(bucket.error().code, fmt::format("tenant {}: requestsPerSecond: {}",
                                                           t.name, bucket.error().message));
      }
      s.requests = std::move(*bucket);
    }
    if (t.tokens_per_minute) {
      TokenRate rate = TokenRate::per_minute(t.tokens_per_minute->value);
      rate.period *= n;
      auto bucket = TokenBucket::create(rate, burst_of(rate, c.config_.token_burst), now);
      if (!bucket.ok()) {
        return make_error(bucket.error().code, fmt::format("tenant {}: tokensPerMinute: {}", t.name,
                                                           bucket.error().message));
      }
      s.tokens = std::move(*bucket);
    }
    c.tenants_.emplace(t.name, std::move(s));
  }
  return c;
}

AdmissionController::Models::value_type& AdmissionController::model_state(std::string_view model) {
  auto it = models_.find(model);
  if (it != models_.end()) return *it;
  it = models_
           .emplace(std::string(model), ModelState{ConcurrencyLimit(config_.default_model_capacity),
                                                   FairQueue(config_.queue)})
           .first;
  for (const auto& [name, t] : tenants_) {
    (void)it->second.queue.set_weight(name, t.spec.weight);  // weights were checked >= 1
  }
  return *it;
}

AdmitDecision AdmissionController::admit(const AdmitRequest& r, TimePoint now) {
  if (requests_.count(r.id)) {
    return reject(500, RejectCode::kDuplicateId,
                  fmt::format("internal error: request id {} is already in use", r.id));
  }
  auto tit = tenants_.find(r.tenant);
  if (tit == tenants_.end()) {
    return reject(403, RejectCode::kUnknownTenant, fmt::format("unknown tenant {}", r.tenant));
  }
  TenantState& t = tit->second;
  if (!tenant_allows_model(t.spec, r.model)) {
    return reject(403, RejectCode::kModelNotAllowed,
                  fmt::format("tenant {} may not use model {} (allowed: {})", t.spec.name, r.model,
                              fmt::join(t.spec.models, ", ")));
  }
  const int64_t estimate = std::max<int64_t>(0, r.estimated_tokens.value);
  if (t.tokens && estimate > t.tokens->capacity()) {
    // No wait is long enough, so this is not a 429: a client that retries would retry forever.
    return reject(
        413, RejectCode::kTooLarge,
        fmt::format("request may use {} tokens (prompt + max_tokens) but tenant {} may "
                    "use at most {} at once ({} tokens/min); lower max_tokens or "
                    "shorten the prompt",
                    estimate, t.spec.name, t.tokens->capacity(), t.spec.tokens_per_minute->value));
  }

  // Both rates are checked before either is charged, so Retry-After covers both and a refused
  // request leaves both buckets as they were.
  const Duration wait_requests = t.requests ? t.requests->time_until(1, now) : Duration::zero();
  const Duration wait_tokens = t.tokens ? t.tokens->time_until(estimate, now) : Duration::zero();
  if (wait_requests > Duration::zero() || wait_tokens > Duration::zero()) {
    if (wait_requests >= wait_tokens) {
      return reject(429, RejectCode::kRequestRate,
                    fmt::format("tenant {} over {:g} requests/s; retry in {}", t.spec.name,
                                *t.spec.requests_per_second, format_duration(wait_requests)),
                    wait_requests);
    }
    return reject(429, RejectCode::kTokenRate,
                  fmt::format("tenant {} over {} tokens/min (this request may use {}); retry in {}",
                              t.spec.name, t.spec.tokens_per_minute->value, estimate,
                              format_duration(wait_tokens)),
                  wait_tokens);
  }

  Models::value_type& model = model_state(r.model);
  ModelState& m = model.second;
  if (m.refusing()) return unavailable(r.model, m.unavailable);
  const bool fits = m.slots.has_room() && t.concurrency.has_room();
  const TimePoint deadline = r.deadline.value_or(now + config_.queue_timeout);
  if (!fits) {
    if (deadline <= now) {
      return reject(503, RejectCode::kTimedOut,
                    fmt::format("no capacity for model {} before the request's deadline", r.model),
                    config_.queue_retry_after);
    }
    if (m.queue.tenant_full(r.tenant)) {
      return reject(429, RejectCode::kTenantQueueFull,
                    fmt::format("tenant {} already has {} requests waiting for model {} (the "
                                "limit); retry in {}",
                                t.spec.name, m.queue.size(r.tenant), r.model,
                                format_duration(config_.queue_retry_after)),
                    config_.queue_retry_after);
    }
    if (m.queue.full()) {
      return reject(503, RejectCode::kQueueFull,
                    fmt::format("model {} is overloaded: {} requests waiting; retry in {}", r.model,
                                m.queue.size(), format_duration(config_.queue_retry_after)),
                    config_.queue_retry_after);
    }
  }

  if (t.requests) (void)t.requests->try_take(1, now);  // cannot fail: time_until was zero
  if (t.tokens) (void)t.tokens->try_take(estimate, now);
  Pending p{&t, &model, Tokens(estimate), now, Phase::kInFlight};
  if (fits) {
    m.slots.try_acquire();
    t.concurrency.try_acquire();
    requests_.emplace(r.id, std::move(p));
    return Admitted{};
  }
  // Cannot fail: the id is new to the controller (so to the queue) and the bounds were checked.
  (void)m.queue.push(
      QueueEntry{r.id, std::string(r.tenant), t.spec.priority, Tokens(estimate), now, deadline});
  p.phase = Phase::kQueued;
  requests_.emplace(r.id, std::move(p));
  return Queued{deadline};
}

void AdmissionController::free_slots(const Pending& p) {
  // Both were acquired when the request was admitted or handed to dispatch().
  (void)p.tenant->concurrency.release();
  (void)p.model->second.slots.release();
}

void AdmissionController::refund_tokens(const Pending& p, TimePoint now) {
  if (p.tenant->tokens) p.tenant->tokens->refund(p.estimate.value, now);
}

Status AdmissionController::release(uint64_t id, Tokens actual_tokens, TimePoint now) {
  auto it = requests_.find(id);
  if (it == requests_.end()) {
    return make_error(ErrorCode::kNotFound, fmt::format("request {} is not held", id));
  }
  if (it->second.phase == Phase::kQueued) {
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("request {} is still queued; cancel it instead", id));
  }
  const Pending p = it->second;
  if (p.phase == Phase::kReady) {
    ready_.erase(std::find_if(ready_.begin(), ready_.end(),
                              [&](const Dispatched& d) { return d.id == id; }));
  }
  requests_.erase(it);
  free_slots(p);
  if (auto& tokens = p.tenant->tokens) {
    const int64_t actual = std::max<int64_t>(0, actual_tokens.value);
    if (actual < p.estimate.value) tokens->refund(p.estimate.value - actual, now);
    if (actual > p.estimate.value) tokens->charge(actual - p.estimate.value, now);
  }
  pump(p.model->first, now);
  return {};
}

Status AdmissionController::cancel(uint64_t id, TimePoint now) {
  auto it = requests_.find(id);
  if (it == requests_.end()) {
    return make_error(ErrorCode::kNotFound, fmt::format("request {} is not held", id));
  }
  const Pending p = it->second;
  switch (p.phase) {
    case Phase::kInFlight:
      return make_error(
          ErrorCode::kFailedPrecondition,
          fmt::format("request {} is in flight; release it with its token count", id));
    case Phase::kQueued:
      (void)p.model->second.queue.cancel(id);
      requests_.erase(it);
      refund_tokens(p, now);
      return {};
    case Phase::kReady:
      ready_.erase(std::find_if(ready_.begin(), ready_.end(),
                                [&](const Dispatched& d) { return d.id == id; }));
      requests_.erase(it);
      free_slots(p);
      refund_tokens(p, now);
      pump(p.model->first, now);
      return {};
  }
  return {};
}

std::optional<TimePoint> AdmissionController::next_deadline() const {
  std::optional<TimePoint> next;
  for (const auto& [model, m] : models_) {
    // A model that refuses hands its queue back as soon as it was told why.
    const std::optional<TimePoint> d = m.refusing() && !m.queue.empty()
                                           ? std::optional<TimePoint>(m.unavailable_since)
                                           : m.queue.next_deadline();
    if (d && (!next || *d < *next)) next = d;
  }
  return next;
}

std::vector<Expired> AdmissionController::expire(TimePoint now) {
  std::vector<Expired> out;
  for (auto& [model, m] : models_) {
    const bool refusing = m.refusing();
    for (QueueEntry& e : m.queue.expire(refusing ? TimePoint::max() : now)) {
      auto it = requests_.find(e.id);
      const Pending p = it->second;
      requests_.erase(it);
      refund_tokens(p, now);
      const Duration waited = now - e.enqueued;
      const auto& t = tenants_.find(e.tenant)->second;
      Rejected why;
      if (refusing) {
        out.push_back(
            Expired{e.id, std::move(e.tenant), model, waited, unavailable(model, m.unavailable)});
        continue;
      }
      // Whose limit kept it waiting decides the status: the tenant's own cap is a 429 like any
      // other tenant limit; a model without free capacity is the service's 503.
      if (!t.concurrency.has_room()) {
        why = reject(429, RejectCode::kTimedOut,
                     fmt::format("tenant {} has {} requests in flight (its limit) and this one "
                                 "waited {} for a slot; retry in {}",
                                 e.tenant, t.concurrency.in_flight(), format_duration(waited),
                                 format_duration(config_.queue_retry_after)),
                     config_.queue_retry_after);
      } else if (m.slots.limit() == 0) {
        why = reject(
            503, RejectCode::kTimedOut,
            fmt::format("model {} has no replica running yet (scaled to zero) and this "
                        "request waited {}; retry in {}",
                        model, format_duration(waited), format_duration(config_.queue_retry_after)),
            config_.queue_retry_after);
      } else {
        why = reject(
            503, RejectCode::kTimedOut,
            fmt::format("model {} is at capacity and this request waited {} for a slot; "
                        "retry in {}",
                        model, format_duration(waited), format_duration(config_.queue_retry_after)),
            config_.queue_retry_after);
      }
      out.push_back(Expired{e.id, std::move(e.tenant), model, waited, std::move(why)});
    }
  }
  return out;
}

std::optional<Dispatched> AdmissionController::dispatch() {
  if (ready_.empty()) return std::nullopt;
  Dispatched d = std::move(ready_.front());
  ready_.pop_front();
  requests_.find(d.id)->second.phase = Phase::kInFlight;
  return d;
}

void AdmissionController::pump(std::string_view first, TimePoint now) {
  if (models_.empty()) return;
  auto eligible = [this](const QueueEntry& e) {
    auto t = tenants_.find(e.tenant);
    return t != tenants_.end() && t->second.concurrency.has_room();
  };
  // One entry per model per turn, so that a tenant's freed slot is not always taken by the same
  // model's queue.
  auto start = models_.lower_bound(first);
  if (start == models_.end()) start = models_.begin();
  for (bool progress = true; progress;) {
    progress = false;
    auto it = start;
    do {
      ModelState& m = it->second;
      if (!m.queue.empty() && m.slots.has_room()) {
        if (auto e = m.queue.pop(eligible)) {
          m.slots.try_acquire();
          tenants_.find(e->tenant)->second.concurrency.try_acquire();
          requests_.find(e->id)->second.phase = Phase::kReady;
          ready_.push_back(Dispatched{e->id, std::move(e->tenant), it->first, now - e->enqueued});
          progress = true;
        }
      }
      if (++it == models_.end()) it = models_.begin();
    } while (it != start);
  }
}

Rejected AdmissionController::unavailable(std::string_view model, const std::string& why) const {
  return reject(503, RejectCode::kUnavailable,
                fmt::format("model {} cannot serve: {}; retry in {}", model, why,
                            format_duration(config_.queue_retry_after)),
                config_.queue_retry_after);
}

void AdmissionController::set_model_unavailable(std::string_view model, std::string reason,
                                                TimePoint now) {
  ModelState& m = model_state(model).second;
  if (m.unavailable.empty() && !reason.empty()) m.unavailable_since = now;
  m.unavailable = std::move(reason);
}

void AdmissionController::set_model_capacity(std::string_view model, std::optional<int> slots,
                                             TimePoint now) {
  if (slots && *slots < 0) slots = 0;
  model_state(model).second.slots.set_limit(slots);
  pump(model, now);
}

ModelDemand AdmissionController::demand(std::string_view model, TimePoint now) const {
  auto it = models_.find(model);
  if (it == models_.end()) return ModelDemand{0, config_.default_model_capacity, {}};
  return ModelDemand{it->second.slots.in_flight(), it->second.slots.limit(),
                     it->second.queue.stats(now)};
}

std::map<std::string, ModelDemand, std::less<>> AdmissionController::demand(TimePoint now) const {
  std::map<std::string, ModelDemand, std::less<>> out;
  for (const auto& [model, m] : models_)
    out.emplace(model, demand(model, now));
  return out;
}

int AdmissionController::tenant_in_flight(std::string_view tenant) const {
  auto it = tenants_.find(tenant);
  return it == tenants_.end() ? 0 : it->second.concurrency.in_flight();
}

}  // namespace gf
