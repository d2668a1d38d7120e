// The gateway's replica selection for every model it serves: the routing table from the
// controller, live load per replica, the revision split, outlier ejection and one policy per
// model, behind three calls — update() when the table changes, pick() per request, finish()
// when the request ends. Pure: no I/O, no threads, no clock; `now` comes in. Not thread-safe:
// a gateway serialises calls (a mutex, or one router per event loop).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "common/routing_table.h"
#include "common/units.h"
#include "routing/outlier_detector.h"
#include "routing/policy.h"
#include "routing/replica_view.h"
#include "routing/route_request.h"
#include "routing/traffic_split.h"

namespace gf {

struct RouterConfig {
  PolicyConfig policy;
  OutlierConfig outlier;
};

Status validate(const RouterConfig& config);

// Proof of a pick, handed back to finish(). Survives routing-table updates: if the replica was
// removed meanwhile (or its slot reused), finish() recognises that and changes nothing.
struct Ticket {
  uint32_t model = 0;
  uint32_t model_generation = 0;
  ReplicaSlot slot = 0;
  uint32_t replica_generation = 0;
  Tokens tokens{0};
};

struct Pick {
  // Valid until the next update(): copy them (or resolve the address) right away.
  std::string_view replica;
  std::string_view revision;
  // Of the request's prefix blocks, how many the replica is known to hold (affinity policies).
  size_t prefix_blocks_matched = 0;
  Ticket ticket;
};

// Something an operator may want in the gateway's log: ejections and refused ejections.
struct RoutingEvent {
  TimePoint time;
  std::string model;
  std::string replica;
  std::string message;
};

// A replica's state for status pages and metrics.
struct ReplicaStatus {
  ReplicaView view;
  bool ejected = false;
  TimePoint ejected_until{};
  int ejections = 0;
};

class Router {
 public:
  // `config` should pass validate(); an invalid policy config makes every update() fail with
  // its reason, an invalid outlier config is used as given.
  explicit Router(RouterConfig config = {});
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;

  // Replaces one model's routing-table entry (the table the controller publishes). Each replica
  // gets its revision's weight: a revision at weight 0 is dark until the controller gives it
  // some. An entry without a policy gets least-work. Replicas that stay keep their load,
  // reports and ejection state; the consistent-hash rings keep every unchanged replica's points.
  // On error (unknown policy, duplicate replica or revision, negative weight) nothing changes.
  Status update(const RouteModel& routes);
  // Forgets a model; returns false when it was not known. Outstanding tickets become no-ops.
  bool remove(std::string_view model);

  // Chooses a replica for one request and counts it as outstanding there until finish(). On
  // failure the error says why in words a user can act on, e.g. `no ready replica for model
  // "llama-70b": 2 draining, 1 ejected after failures` (kUnavailable), or kNotFound for a model
  // without routes.
  Result<Pick> pick(const RouteRequest& request, TimePoint now);
  // The request picked with `ticket` ended. Every successful pick must be finished exactly
  // once, also when sending it failed (Outcome::kConnectFailure).
  void finish(const Ticket& ticket, Outcome outcome, TimePoint now);

  // A replica's own load report (from its metrics). Present fields replace earlier values.
  Status report_load(std::string_view model, std::string_view replica, const LoadReport& report);
  // Forgets the replica's reported load: its KV-cache usage and queue length are unknown again
  // (its reading went stale), and policies treat it as one that has not reported.
  Status forget_load(std::string_view model, std::string_view replica);

  // Events since the last call, oldest first. At most kMaxEvents are kept.
  static constexpr size_t kMaxEvents = 1024;
  std::vector<RoutingEvent> take_events();

  std::vector<ReplicaStatus> replicas(std::string_view model, TimePoint now) const;
  const Policy* policy(std::string_view model) const;
  const RouterConfig& config() const { return config_; }

 private:
  struct Model;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  Model* find(std::string_view model) const;
  void emit(TimePoint now, const Model& m, std::string_view replica, std::string message);

  RouterConfig config_;
  OutlierDetector outlier_;
  std::vector<std::unique_ptr<Model>> models_;  // by Ticket::model; null = free
  std::vector<uint32_t> model_generations_;
  std::vector<uint32_t> free_models_;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> by_name_;
  std::deque<RoutingEvent> events_;
};

}  // namespace gf
