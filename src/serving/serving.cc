#include "serving/serving.h"

#include <algorithm>
#include <set>
#include <utility>

#include "serving/model_capacity.h"

namespace gf {

namespace {

uint32_t slot_of(RequestId id) {
  return static_cast<uint32_t>(id & 0xffffffffu);
}
uint32_t generation_of(RequestId id) {
  return static_cast<uint32_t>(id >> 32);
}

Outcome outcome_of(int status) {
  if (status >= 500) return Outcome::kServerError;
  if (status >= 400) return Outcome::kClientError;
  return Outcome::kSuccess;
}

}  // namespace

// One request the core holds. Reused by the next request of its slot: the strings and vectors
// keep their buffers, so the steady state allocates nothing here.
struct Serving::Flight {
  enum class Phase : uint8_t { kQueued, kReady, kAttempt, kBetween };
  uint32_t slot = 0;
  uint32_t generation = 0;
  bool live = false;
  Phase phase = Phase::kReady;
  const TenantSpec* tenant = nullptr;
  std::string model;
  Tokens estimate{0};
  TimePoint arrived{};
  std::optional<Duration> first_byte;  // since arrival, of the answer that reached the client
  int attempts = 0;                    // picks made
  bool started = false;                // counted as active by the retry budget
  bool retrying = false;               // holds a place in the retry budget
  bool final = false;                  // the last failure may not be retried
  bool free_retry = false;             // the last failure's retry spends no budget
  Ticket ticket;
  std::string revision;
  std::vector<std::string> tried;  // the first `tried_count` are this request's
  size_t tried_count = 0;
  std::vector<std::string_view> avoid;

  RequestId id() const { return (static_cast<RequestId>(generation) << 32) | slot; }
};

Result<Serving> Serving::create(const TenantDirectory& tenants, ServingConfig config,
                                TimePoint now) {
  if (Status s = validate(config.router); !s) return s.error();
  auto admission = AdmissionController::create(tenants, config.admission, now);
  if (!admission) return admission.error();
  return Serving(std::move(config), std::move(admission).value());
}

Serving::Serving(ServingConfig config, AdmissionController admission)
    : config_(std::move(config)),
      admission_(std::move(admission)),
      router_(config_.router),
      budget_(config_.retry_budget) {}
Serving::Serving(Serving&&) noexcept = default;
Serving& Serving::operator=(Serving&&) noexcept = default;
Serving::~Serving() = default;

Status Serving::apply_table(const RoutingTable& table, TimePoint now) {
  std::set<std::string_view> seen;
  for (const RouteModel& m : table.models) {
    if (Status s = router_.update(m); !s) return s;
    seen.insert(m.model);
  }
  for (const RouteModel& m : table_.models)
    if (!seen.count(m.model)) router_.remove(m.model);
  // The engines' own load comes with the table (the controller republishes it when it moved
  // enough: docs/routing.md). It replaces what the router held: forgotten first, so a figure the
  // table no longer carries is unknown again rather than the last value seen. Every replica was
  // just added, so only a value out of range can make report_load refuse, and that replica's load
  // then stays unknown.
  for (const RouteModel& m : table.models)
    for (const RouteRevision& rev : m.revisions)
      for (const RouteReplica& r : rev.replicas) {
        (void)router_.forget_load(m.model, r.id);
        (void)router_.report_load(m.model, r.id, LoadReport{r.kv_cache_usage, r.queue_length});
      }
  table_ = table;
  model_index_.clear();
  for (uint32_t i = 0; i < table_.models.size(); ++i) {
    const RouteModel& m = table_.models[i];
    model_index_.emplace(m.model, i);
    admission_.set_model_capacity(m.model, model_capacity(m, config_.replica_concurrency), now);
    admission_.set_model_unavailable(m.model, m.unavailable, now);
  }
  return {};
}

std::optional<uint32_t> Serving::model_index(std::string_view model) const {
  auto it = model_index_.find(model);
  if (it == model_index_.end()) return std::nullopt;
  return it->second;
}

bool Serving::allows(const TenantSpec& tenant, uint32_t model) const {
  const RouteModel& m = table_.models[model];
  if (!tenant_allows_model(tenant, m.model)) return false;
  return m.tenants.empty() ||
         std::find(m.tenants.begin(), m.tenants.end(), tenant.name) != m.tenants.end();
}

Serving::Flight* Serving::find(RequestId id) const {
  const uint32_t slot = slot_of(id);
  if (slot >= flights_.size()) return nullptr;
  Flight* f = flights_[slot].get();
  return f->live && f->generation == generation_of(id) ? f : nullptr;
}

RequestId Serving::start(const Arrival& arrival, Tokens estimate) {
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(flights_.size());
    flights_.push_back(std::make_unique<Flight>());
    flights_.back()->slot = slot;
  }
  Flight& f = *flights_[slot];
  ++f.generation;
  f.live = true;
  f.phase = Flight::Phase::kReady;
  f.tenant = arrival.tenant;
  f.model.assign(arrival.model);
  f.estimate = estimate;
  ++live_;
  return f.id();
}

void Serving::end(Flight& f) {
  f.live = false;
  f.attempts = 0;
  f.started = false;
  f.retrying = false;
  f.final = false;
  f.first_byte.reset();
  f.tried_count = 0;
  free_.push_back(f.slot);
  --live_;
}

Refusal Serving::refusal(const Rejected& r, uint32_t model) const {
  return Refusal{RefusalKind::kAdmission, r.http_status, r.reason,
                 to_string(r.code),       r.retry_after, model};
}

AdmitResult Serving::admit(const Arrival& arrival, TimePoint now) {
  auto it = model_index_.find(arrival.model);
  if (it == model_index_.end()) {
    return Refusal{RefusalKind::kUnknownModel, 404,
                   "The model `" + std::string(arrival.model) + "` does not exist",
                   "model_not_found"};
  }
  const uint32_t model = it->second;
  if (!allows(*arrival.tenant, model)) {
    return Refusal{RefusalKind::kNotAllowed,
                   403,
                   "tenant " + arrival.tenant->name + " may not use model `" +
                       std::string(arrival.model) + "`",
                   "model_not_allowed",
                   std::nullopt,
                   model};
  }
  // The prompt estimate plus the most it may generate.
  const Tokens estimate{arrival.prompt_tokens.value +
                        arrival.max_tokens.value_or(config_.default_max_tokens)};
  const RequestId id = start(arrival, estimate);
  Flight& f = *find(id);
  AdmitDecision d = admission_.admit(
      AdmitRequest{id, arrival.tenant->name, arrival.model, estimate, std::nullopt}, now);
  if (auto* r = std::get_if<Rejected>(&d)) {
    end(f);
    return refusal(*r, model);
  }
  f.arrived = now;
  traffic_.arrived(f.model, arrival.prompt_tokens);
  if (auto* q = std::get_if<Queued>(&d)) {
    f.phase = Flight::Phase::kQueued;
    return Entered{id, model, true, q->deadline};
  }
  return Entered{id, model, false, {}};
}

std::optional<RequestId> Serving::dispatch() {
  while (auto d = admission_.dispatch()) {
    Flight* f = find(d->id);
    if (f == nullptr || f->phase != Flight::Phase::kQueued) continue;
    f->phase = Flight::Phase::kReady;
    return d->id;
  }
  return std::nullopt;
}

std::vector<Expiry> Serving::expire(TimePoint now) {
  std::vector<Expiry> out;
  for (Expired& e : admission_.expire(now)) {
    if (Flight* f = find(e.id)) end(*f);
    out.push_back(Expiry{e.id, refusal(e.rejection, 0)});
  }
  return out;
}

void Serving::cancel(RequestId id, TimePoint now) {
  Flight* f = find(id);
  if (f == nullptr) return;
  if (f->phase == Flight::Phase::kQueued || f->phase == Flight::Phase::kReady) {
    // Admission cancels what it queued; one admitted at once it counts as in flight, so it is
    // released having used nothing (which refunds its estimate the same way).
    if (!admission_.cancel(id, now)) (void)admission_.release(id, Tokens(0), now);
    if (f->started) budget_.request_ended(f->retrying);
    end(*f);
    return;
  }
  finish(id, Tokens(0), now);  // already sent: it ends like any other
}

PickResult Serving::pick(RequestId id, const RouteHints& hints, TimePoint now) {
  Flight* f = find(id);
  if (f == nullptr) return GiveUp{"the request is not held"};
  if (f->phase == Flight::Phase::kAttempt) end_attempt(*f, Outcome::kCancelled, now);
  if (!f->started) {
    f->started = true;
    budget_.request_started();
  }
  const bool retry = f->attempts > 0;
  if (f->final || f->attempts > config_.max_retries) return GiveUp{};
  if (retry && !f->retrying && !f->free_retry) {
    if (!budget_.try_retry()) return GiveUp{};
    f->retrying = true;
  }
  f->avoid.clear();
  for (size_t i = 0; i < f->tried_count; ++i)
    f->avoid.push_back(f->tried[i]);
  RouteRequest rr;
  rr.model = f->model;
  rr.session_key = hints.session_key;
  rr.prefix_blocks = hints.prefix_blocks;
  rr.estimated_tokens = f->estimate;
  rr.avoid = f->avoid;
  ++f->attempts;
  auto picked = router_.pick(rr, now);
  if (!picked) return GiveUp{picked.error().message, retry};
  // Kept for the retries to avoid; the gateway names the attempt from here.
  if (f->tried_count == f->tried.size()) f->tried.emplace_back();
  std::string& replica = f->tried[f->tried_count++];
  replica.assign(picked->replica);
  f->revision.assign(picked->revision);
  f->ticket = picked->ticket;
  f->phase = Flight::Phase::kAttempt;
  return Attempt{&replica, f->revision, retry};
}

void Serving::end_attempt(Flight& f, Outcome outcome, TimePoint now) {
  router_.finish(f.ticket, outcome, now);
  f.phase = Flight::Phase::kBetween;
}

bool Serving::retry_head(RequestId id, int status) const {
  if (status < 500) return false;
  const Flight* f = find(id);
  // The last attempt's 5xx goes to the client as it is; an earlier one is retried.
  return f != nullptr && f->phase == Flight::Phase::kAttempt &&
         f->attempts - 1 < config_.max_retries;
}

AttemptEnd Serving::fail(RequestId id, Failure failure, AttemptPhase phase, Duration elapsed,
                         TimePoint now) {
  const FailureClass c = classify(failure, phase);
  Flight* f = find(id);
  if (f == nullptr || f->phase != Flight::Phase::kAttempt) return {c.outcome, false};
  end_attempt(*f, c.outcome, now);
  if (c.counts_as_error) traffic_.count(f->model, f->revision, true, elapsed);
  f->final = !c.retry;
  f->free_retry = !c.spends_budget;
  return {c.outcome, c.retry};
}

Outcome Serving::succeed(RequestId id, int status, Duration first_byte, TimePoint now) {
  const Outcome outcome = outcome_of(status);
  Flight* f = find(id);
  if (f == nullptr || f->phase != Flight::Phase::kAttempt) return outcome;
  end_attempt(*f, outcome, now);
  traffic_.count(f->model, f->revision, status >= 500, first_byte);
  if (status < 300) f->first_byte = first_byte;
  f->final = true;
  return outcome;
}

void Serving::finish(RequestId id, Tokens used, TimePoint now) {
  finish(id, UsedTokens{used, Tokens{0}}, now);
}

void Serving::finish(RequestId id, UsedTokens used, TimePoint now) {
  Flight* f = find(id);
  if (f == nullptr) return;
  if (f->phase == Flight::Phase::kAttempt) end_attempt(*f, Outcome::kCancelled, now);
  if (f->phase == Flight::Phase::kQueued) {
    (void)admission_.cancel(id, now);
  } else {
    (void)admission_.release(id, Tokens{used.prompt.value + used.output.value}, now);
    // The decode pace the client saw: from the first byte to the end, per token after the first.
    std::optional<Duration> tpot;
    if (f->first_byte && used.output.value > 1) {
      const Duration decoding = (now - f->arrived) - *f->first_byte;
      if (decoding > Duration(0)) tpot = decoding / (used.output.value - 1);
    }
    traffic_.finished(f->model, used.output, tpot);
  }
  if (f->started) budget_.request_ended(f->retrying);
  end(*f);
}

std::optional<TimePoint> Serving::next_deadline() const {
  return admission_.next_deadline();
}

TrafficReport Serving::take_report(TimePoint now) {
  TrafficReport report;
  report.revisions = traffic_.take();
  auto counted = traffic_.take_demand();
  for (const auto& [model, d] : admission_.demand(now)) {
    ReportedDemand out;
    if (auto it = counted.find(model); it != counted.end()) {
      out = std::move(it->second);
      counted.erase(it);
    }
    out.model = model;
    out.queued = static_cast<int64_t>(d.queued.length);
    out.in_flight = d.in_flight;
    report.demand.push_back(std::move(out));
  }
  // Models admission no longer lists (the table dropped them) still report what they counted.
  for (auto& [model, d] : counted)
    report.demand.push_back(std::move(d));
  return report;
}

ModelDemand Serving::demand(std::string_view model, TimePoint now) const {
  return admission_.demand(model, now);
}

}  // namespace gf
