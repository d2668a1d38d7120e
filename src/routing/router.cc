#include "routing/router.h"

#include <algorithm>
#include <limits>
#include <set>

#include "routing/policy_registry.h"

namespace gf {

// One replica's place in a model's table. The slot index is the replica's ReplicaSlot.
struct ReplicaSlotState {
  ReplicaView view;
  OutlierState outlier;
  int revision = -1;  // index into the table entry's revisions (its traffic weight)
  int restarts = 0;   // the table's count: a new value is a new engine process
  uint32_t generation = 0;
  bool live = false;
};

struct Router::Model {
  std::string name;
  uint32_t index = 0;
  uint32_t generation = 0;
  std::string policy_name;
  std::unique_ptr<Policy> policy;
  TrafficSplit split;
  std::vector<ReplicaSlotState> slots;
  std::vector<ReplicaSlot> free_slots;
  std::unordered_map<std::string, ReplicaSlot, StringHash, std::equal_to<>> by_id;
  int live = 0;
  // Scratch reused by every pick: no allocation per request once grown.
  std::vector<const ReplicaView*> candidates;
  std::vector<int> routable_per_revision;
};

Status validate(const RouterConfig& config) {
  if (Status s = validate(config.policy); !s.ok()) return s;
  return validate(config.outlier);
}

Router::Router(RouterConfig config) : config_(std::move(config)), outlier_(config_.outlier) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

Router::Model* Router::find(std::string_view model) const {
  auto it = by_name_.find(model);
  return it == by_name_.end() ? nullptr : models_[it->second].get();
}

void Router::emit(TimePoint now, const Model& m, std::string_view replica, std::string message) {
  if (events_.size() >= kMaxEvents) events_.pop_front();
  events_.push_back(RoutingEvent{now, m.name, std::string(replica), std::move(message)});
}

std::vector<RoutingEvent> Router::take_events() {
  std::vector<RoutingEvent> out(std::make_move_iterator(events_.begin()),
                                std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

namespace {

// The policy a table entry without one gets.
std::string_view policy_name(const RouteModel& routes) {
  return routes.policy.empty() ? std::string_view("least-work") : routes.policy;
}

}  // namespace

Status Router::update(const RouteModel& routes) {
  auto bad = [&](std::string what) {
    return make_error(ErrorCode::kInvalidArgument,
                      "routing table for model \"" + routes.model + "\": " + std::move(what));
  };
  // Validate everything before changing anything.
  if (routes.model.empty())
    return make_error(ErrorCode::kInvalidArgument, "routing table entry without a model name");
  std::set<std::string_view> seen;
  size_t replica_count = 0;
  for (const RouteRevision& r : routes.revisions) {
    if (!seen.insert(r.revision).second)
      return bad("revision \"" + r.revision + "\" is listed twice");
    if (r.weight < 0)
      return bad("revision \"" + r.revision + "\" has negative weight " + std::to_string(r.weight));
    replica_count += r.replicas.size();
  }
  seen.clear();
  for (const RouteRevision& rev : routes.revisions) {
    for (const RouteReplica& r : rev.replicas) {
      if (r.id.empty()) return bad("a replica has an empty id");
      if (!seen.insert(r.id).second) return bad("replica \"" + r.id + "\" is listed twice");
    }
  }
  if (replica_count >= PrefixIndex::kNoOwner)
    return bad(std::to_string(replica_count) + " replicas is over the limit of " +
               std::to_string(PrefixIndex::kNoOwner - 1));
  const std::string_view policy = policy_name(routes);
  Model* m = find(routes.model);
  std::unique_ptr<Policy> new_policy;
  if (m == nullptr || m->policy_name != policy) {
    auto p = make_policy(std::string(policy), config_.policy);
    if (!p.ok()) return bad(p.error().message);
    new_policy = std::move(p).value();
  }

  if (m == nullptr) {
    uint32_t index;
    if (!free_models_.empty()) {
      index = free_models_.back();
      free_models_.pop_back();
    } else {
      index = static_cast<uint32_t>(models_.size());
      models_.emplace_back();
      model_generations_.push_back(0);
    }
    models_[index] = std::make_unique<Model>();
    m = models_[index].get();
    m->name = routes.model;
    m->index = index;
    m->generation = ++model_generations_[index];
    by_name_.emplace(routes.model, index);
  }
  const bool policy_changed = new_policy != nullptr;
  if (policy_changed) {
    m->policy = std::move(new_policy);
    m->policy_name = policy;
  }

  // Revisions and their weights; every replica belongs to the revision that lists it.
  std::vector<int> weights;
  for (const RouteRevision& r : routes.revisions)
    weights.push_back(r.weight);
  m->split.set_weights(std::move(weights));

  // Removed replicas first, so that their slots can be reused by additions.
  std::vector<ReplicaSlot> removed;
  std::set<std::string_view> wanted;
  for (const RouteRevision& rev : routes.revisions)
    for (const RouteReplica& r : rev.replicas)
      wanted.insert(r.id);
  for (auto it = m->by_id.begin(); it != m->by_id.end();) {
    if (wanted.count(it->first) != 0) {
      ++it;
      continue;
    }
    ReplicaSlotState& s = m->slots[it->second];
    s.live = false;
    ++s.generation;  // outstanding tickets for it become no-ops
    removed.push_back(it->second);
    m->free_slots.push_back(it->second);
    --m->live;
    it = m->by_id.erase(it);
  }
  for (size_t rev = 0; rev < routes.revisions.size(); ++rev) {
    for (const RouteReplica& r : routes.revisions[rev].replicas) {
      ReplicaSlot slot;
      if (auto it = m->by_id.find(r.id); it != m->by_id.end()) {
        slot = it->second;
      } else {
        if (!m->free_slots.empty()) {
          slot = m->free_slots.back();
          m->free_slots.pop_back();
        } else {
          slot = static_cast<ReplicaSlot>(m->slots.size());
          m->slots.emplace_back();
        }
        ReplicaSlotState& s = m->slots[slot];
        const uint32_t generation = s.generation + 1;
        s = ReplicaSlotState{};
        s.generation = generation;
        s.live = true;
        s.view.id = r.id;
        s.view.slot = slot;
        m->by_id.emplace(r.id, slot);
        ++m->live;
      }
      ReplicaSlotState& s = m->slots[slot];
      // A restarted engine, or one ready again, is a fresh process: the failures of the one
      // before do not keep it out (an ejection that outlived a restart once left a model's only
      // replica unroutable while the controller showed it Ready).
      if (r.restarts != s.restarts || (r.ready && !s.view.ready)) s.outlier = OutlierState{};
      s.restarts = r.restarts;
      s.view.revision = routes.revisions[rev].revision;
      s.view.ready = r.ready;
      s.view.draining = r.draining;
      // Policies divide by it: a table built in code with a speed outside (0, 1] counts as 1, as
      // the table's JSON reader has it.
      s.view.speed = r.speed > 0 && r.speed <= 1 ? r.speed : 1.0;
      s.revision = static_cast<int>(rev);
      s.view.revision_weight = m->split.weights()[rev];
    }
  }
  m->routable_per_revision.assign(m->split.weights().size(), 0);

  std::vector<const ReplicaView*> live;
  for (const ReplicaSlotState& s : m->slots)
    if (s.live) live.push_back(&s.view);
  m->policy->replicas_changed(live, policy_changed ? std::span<const ReplicaSlot>{} : removed);
  return {};
}

bool Router::remove(std::string_view model) {
  auto it = by_name_.find(model);
  if (it == by_name_.end()) return false;
  const uint32_t index = it->second;
  models_[index].reset();
  free_models_.push_back(index);
  by_name_.erase(it);
  return true;
}

Result<Pick> Router::pick(const RouteRequest& request, TimePoint now) {
  Model* m = find(request.model);
  if (m == nullptr)
    return make_error(ErrorCode::kNotFound,
                      "no routes for model \"" + std::string(request.model) +
                          "\": it is not deployed, or this gateway has not received its routing "
                          "table yet");
  auto avoided = [&](const ReplicaView& v) {
    for (std::string_view a : request.avoid)
      if (a == v.id) return true;
    return false;
  };
  // Pass 1: what is routable, per revision, and why the rest is not.
  // No "ejected" reason: panic routing below never lets ejection alone refuse a request.
  int starting = 0, draining = 0, ejected = 0, tried = 0, dark = 0;
  auto count = [&](bool honour_ejection) {
    starting = draining = ejected = tried = dark = 0;
    std::fill(m->routable_per_revision.begin(), m->routable_per_revision.end(), 0);
    for (const ReplicaSlotState& s : m->slots) {
      if (!s.live) continue;
      if (s.view.draining)
        ++draining;
      else if (!s.view.ready)
        ++starting;
      else if (honour_ejection && s.outlier.ejected(now))
        ++ejected;
      else if (!request.avoid.empty() && avoided(s.view))
        ++tried;
      else if (s.revision < 0 || s.view.revision_weight <= 0)
        ++dark;
      else
        ++m->routable_per_revision[static_cast<size_t>(s.revision)];
    }
    return m->split.pick(
        [&](int i) { return m->routable_per_revision[static_cast<size_t>(i)] > 0; });
  };
  int revision = count(true);
  // Panic routing (Envoy's panic threshold): when ejection leaves nothing to route to, an
  // ejected replica that is Ready is a better bet than a certain 503, so ejection is ignored.
  const bool panic = revision < 0 && ejected > 0;
  if (panic) revision = count(false);
  if (revision < 0) {
    std::string why;
    auto add = [&](int n, const char* what) {
      if (n == 0) return;
      why += (why.empty() ? "" : ", ") + std::to_string(n) + " " + what;
    };
    add(starting, "starting (not ready)");
    add(draining, "draining");
    add(tried, "already tried by this request");
    add(dark, "in a revision with weight 0");
    if (why.empty()) why = "it has no replicas";
    return make_error(ErrorCode::kUnavailable,
                      "no ready replica for model \"" + m->name + "\": " + why);
  }
  // Pass 2: the chosen revision's routable replicas.
  m->candidates.clear();
  for (const ReplicaSlotState& s : m->slots)
    if (s.live && s.revision == revision && s.view.ready && !s.view.draining &&
        (panic || !s.outlier.ejected(now)) && s.view.revision_weight > 0 &&
        (request.avoid.empty() || !avoided(s.view)))
      m->candidates.push_back(&s.view);

  const Choice c = m->policy->pick(request, m->candidates);
  const ReplicaSlot slot = m->candidates[c.index]->slot;
  ReplicaSlotState& s = m->slots[slot];
  ++s.view.outstanding;
  s.view.outstanding_tokens += request.estimated_tokens;
  m->policy->routed(request, s.view);
  return Pick{s.view.id, s.view.revision, c.prefix_blocks_matched,
              Ticket{m->index, m->generation, slot, s.generation, request.estimated_tokens}};
}

void Router::finish(const Ticket& t, Outcome outcome, TimePoint now) {
  if (t.model >= models_.size() || !models_[t.model] ||
      models_[t.model]->generation != t.model_generation)
    return;
  Model& m = *models_[t.model];
  if (t.slot >= m.slots.size()) return;
  ReplicaSlotState& s = m.slots[t.slot];
  if (!s.live || s.generation != t.replica_generation) return;
  s.view.outstanding = std::max(0, s.view.outstanding - 1);
  s.view.outstanding_tokens =
      Tokens(std::max<int64_t>(0, (s.view.outstanding_tokens - t.tokens).value));

  // The ejection limit counts against the replicas that can serve (Ready, not draining): with
  // one of two draining, the other is all there is and must not be ejected.
  int ejected_now = 0, serving = 0;
  if (outcome != Outcome::kSuccess && outcome != Outcome::kClientError &&
      outcome != Outcome::kCancelled)
    for (const ReplicaSlotState& o : m.slots) {
      if (!o.live || !o.view.ready || o.view.draining) continue;
      ++serving;
      if (o.outlier.ejected(now)) ++ejected_now;
    }
  const OutlierDetector::Verdict v = outlier_.record(s.outlier, outcome, now, ejected_now, serving);
  if (!v.reason.empty()) emit(now, m, s.view.id, v.reason);
}

Status Router::report_load(std::string_view model, std::string_view replica,
                           const LoadReport& report) {
  Model* m = find(model);
  if (m == nullptr)
    return make_error(ErrorCode::kNotFound, "no routes for model \"" + std::string(model) + "\"");
  auto it = m->by_id.find(replica);
  if (it == m->by_id.end())
    return make_error(
        ErrorCode::kNotFound,
        "model \"" + std::string(model) + "\" has no replica \"" + std::string(replica) + "\"");
  if (report.kv_cache_usage && !(*report.kv_cache_usage >= 0.0 && *report.kv_cache_usage <= 1.0))
    return make_error(ErrorCode::kInvalidArgument,
                      "replica \"" + std::string(replica) + "\" reported KV-cache usage " +
                          std::to_string(*report.kv_cache_usage) + ", outside [0, 1]");
  if (report.queue_length && *report.queue_length < 0)
    return make_error(ErrorCode::kInvalidArgument,
                      "replica \"" + std::string(replica) + "\" reported a negative queue length");
  ReplicaView& v = m->slots[it->second].view;
  if (report.kv_cache_usage) v.kv_cache_usage = report.kv_cache_usage;
  if (report.queue_length) v.queue_length = report.queue_length;
  return {};
}

Status Router::forget_load(std::string_view model, std::string_view replica) {
  Model* m = find(model);
  if (m == nullptr)
    return make_error(ErrorCode::kNotFound, "no routes for model \"" + std::string(model) + "\"");
  auto it = m->by_id.find(replica);
  if (it == m->by_id.end())
    return make_error(
        ErrorCode::kNotFound,
        "model \"" + std::string(model) + "\" has no replica \"" + std::string(replica) + "\"");
  ReplicaView& v = m->slots[it->second].view;
  v.kv_cache_usage.reset();
  v.queue_length.reset();
  return {};
}

std::vector<ReplicaStatus> Router::replicas(std::string_view model, TimePoint now) const {
  std::vector<ReplicaStatus> out;
  const Model* m = find(model);
  if (m == nullptr) return out;
  for (const ReplicaSlotState& s : m->slots)
    if (s.live)
      out.push_back(ReplicaStatus{s.view, s.outlier.ejected(now), s.outlier.ejected_until,
                                  s.outlier.ejections});
  std::sort(out.begin(), out.end(),
            [](const ReplicaStatus& a, const ReplicaStatus& b) { return a.view.id < b.view.id; });
  return out;
}

const Policy* Router::policy(std::string_view model) const {
  const Model* m = find(model);
  return m == nullptr ? nullptr : m->policy.get();
}

}  // namespace gf
