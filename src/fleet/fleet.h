// The controller's model of the fleet and its reconcile decisions: nodes from agent heartbeats,
// deployments, replicas and their placement. Pure: no I/O, no threads, no clock; the shell passes
// `now`, persists what take_changes() returns and serves the queries.
#pragma once

#include <deque>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/traffic_report.h"
#include "fleet/canary_judge.h"
#include "fleet/heartbeat_pacer.h"
#include "fleet/load_publication.h"
#include "fleet/node_assignment.h"
#include "fleet/node_report.h"
#include "fleet/preemption.h"
#include "fleet/records.h"
#include "fleet/replica_load.h"
#include "fleet/warm_reserve.h"
#include "placement/scheduler.h"
#include "pool/pool.h"

namespace gf {

struct FleetOptions {
  Duration node_lease = std::chrono::seconds(10);  // heartbeats missing this long: node Lost
  Duration heartbeat_interval = std::chrono::seconds(1);
  size_t max_events = 2000;
  size_t max_history = 10;
  // Blue-green: how long the old revision keeps running (dark) after the switch, so that
  // `rollout undo` is instant.
  Duration blue_green_retention = std::chrono::minutes(10);
  // How long a Draining replica may finish its requests: it stays in its agent's set, flagged,
  // this long at most (the agent stops it as soon as its engine is idle); then it leaves the set
  // and the agent stops it at once. Gateways should cut streams no sooner (their --drain-timeout).
  Duration drain_timeout = std::chrono::seconds(30);
  // When a canary is rolled back (fleet/canary_judge.h).
  CanaryThresholds canary;
  // When the engines' load alone gives the routing table a new version (fleet/load_publication.h).
  LoadPublicationRule load_publication;
  // A heartbeat that changed the replica set rebuilds the routing table at once unless one was
  // built less than this long ago; then the next tick() does (#18: a rebuild reads every replica).
  // Per routing_batch_replicas replicas: a rebuild's cost grows with them, so its spacing does
  // too and rebuilding stays a bounded share of the controller; at 100,000 replicas a change
  // waits up to 1 s. A fleet of at most that many publishes from tick() at once.
  Duration routing_batch = std::chrono::milliseconds(100);
  size_t routing_batch_replicas = 10000;
  // How the heartbeat interval grows when the controller is busy (fleet/heartbeat_pacer.h); its
  // `base` is heartbeat_interval.
  HeartbeatPacing pacing;
  // Defragmentation (placement/defragmentation.h): a multi-GPU replica that fits on no node
  // although enough GPUs are free across the fleet has smaller replicas moved off one node,
  // make-before-break. At most this many moves start per minute (0: never); a replica whose
  // plan found nothing is not planned for again before defrag_retry.
  int defrag_moves_per_minute = 4;
  Duration defrag_retry = std::chrono::seconds(10);
};

// What changed since the last take_changes(): records to write and keys to delete.
struct FleetChanges {
  std::set<std::string> replicas;     // ids to write (present) or delete (absent)
  std::set<std::string> deployments;  // names to write or delete
  bool generation = false;            // the generation counter moved
  bool empty() const { return replicas.empty() && deployments.empty() && !generation; }
};

struct RolloutProgress {
  int target = 0;         // replicas wanted
  int current = 0;        // active replicas of the current revision
  int ready_current = 0;  // of which Ready
  int old = 0;            // active replicas of older revisions
  bool complete() const { return ready_current >= target && old == 0 && current == target; }
};

class Fleet {
 public:
  static Result<Fleet> create(const PlacementSpec& placement, FleetOptions options, TimePoint now);
  // Moved, never copied: its indexes point into its own records (a move keeps them where they are).
  Fleet(Fleet&&) = default;
  Fleet& operator=(Fleet&&) = default;
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  // ---- desired state
  // Create or replace. A change of anything but the replica count starts a rollout.
  Status apply(const DeploymentSpec& spec, const std::string& manifest, TimePoint now);
  Status remove_deployment(const std::string& name, TimePoint now);
  // `reason` is kept in the Scaled event: "by request" for a person, the rule for the autoscaler.
  Status scale(const std::string& name, int replicas, TimePoint now,
               std::string_view reason = "by request");
  // The manifest of the revision before the current one, for `rollout undo` (the shell parses it
  // and applies it like any other change).
  Result<std::string> previous_manifest(const std::string& name) const;
  // The GPU models new replicas of `name` should prefer, best first (the autoscaler's value
  // ranking); within what the spec allows. Empty: the spec's order.
  void set_gpu_order(const std::string& name, std::vector<std::string> order);
  Status set_node_admin(const std::string& node, AdminState to, TimePoint now);

  // ---- agents
  // Registers or refreshes the node, applies its reports, answers with its desired replicas.
  Result<NodeAssignment> heartbeat(const NodeReport& hb, TimePoint now);
  // The replica's engine load from its agent's last heartbeat, with `age` counted to `now`;
  // nullopt when unknown: never reported, not in the last heartbeat, or older than
  // kLoadMaxAgeHeartbeats heartbeat intervals. Kept in memory only: a restarted controller knows
  // it again one heartbeat later.
  std::optional<ReplicaLoad> replica_load(const std::string& replica, TimePoint now) const;
  // The record's reading when not too old to use; nullptr otherwise. No copy.
  const ReplicaLoad* fresh_load(const ReplicaRecord& r, TimePoint now) const;
  // How busy the controller's thread was since the last reading (CPU over wall time, 0..1): the
  // heartbeat interval handed out, and node leases with it, follow (fleet/heartbeat_pacer.h).
  void observe_busy(double share, TimePoint now);
  Duration heartbeat_interval() const { return pacer_.interval(); }
  double busy() const { return pacer_.busy(); }
  // A gateway's traffic since its last report; feeds canary analysis.
  void record_traffic(const TrafficReport& report, TimePoint now);

  // Node leases, rollouts, replica counts, placement. The live controller calls it a few times a
  // second; a simulator calls it at next_deadline().
  void tick(TimePoint now);
  // The earliest time at which tick() has something to do that no other call triggers: a node
  // lease running out, a canary step's pause or blue-green retention ending, a replica's load to
  // publish or to expire in the routing table, or work left by a heartbeat or traffic report (then
  // a time already past). nullopt: nothing until the next call.
  std::optional<TimePoint> next_deadline() const;

  // ---- restart: records read back from the store before the first heartbeat
  void restore(DeploymentRecord d);
  void restore(ReplicaRecord r, TimePoint now);
  void restore_generation(int64_t g) { generation_ = std::max(generation_, g); }

  // ---- queries
  const std::map<std::string, DeploymentRecord>& deployments() const { return deployments_; }
  const std::map<std::string, ReplicaRecord>& replicas() const { return replicas_; }
  const std::map<std::string, NodeRecord>& nodes() const { return nodes_; }
  const std::deque<FleetEvent>& events() const { return events_; }
  uint64_t last_event_seq() const { return event_seq_; }
  const Pool& pool() const { return pool_; }
  int64_t generation() const { return generation_; }
  const RoutingTable& routing_table() const { return routing_; }
  // Where a deployment's rollout stands, in words ("2/3 replicas of a1b2c3 ready; 1 old left").
  std::string rollout_status(const std::string& deployment) const;
  RolloutProgress rollout_progress(const std::string& deployment) const;
  // Why the deployment has no ready replica and none is coming (every replica crash-loops):
  // gateways refuse its requests at once with it, and it shows as Degraded; "" otherwise.
  std::string why_unavailable(const std::string& deployment) const;

  FleetChanges take_changes();

 private:
  Fleet(Scheduler scheduler, FleetOptions options)
      : sched_(std::move(scheduler)), opts_(options), pacer_(pacing(options)) {}
  static HeartbeatPacing pacing(const FleetOptions& o) {
    HeartbeatPacing p = o.pacing;
    p.base = o.heartbeat_interval;
    return p;
  }

  void event(TimePoint now, std::string kind, std::string subject, std::string from, std::string to,
             std::string reason);
  void set_state(ReplicaRecord& r, ReplicaState to, std::string reason, TimePoint now);
  // A record to persist; it may change the routing table too.
  void record_replica_change(const ReplicaRecord& r);
  void record_deployment_change(const std::string& name);
  void reconcile(DeploymentRecord& d, TimePoint now);
  void advance_rollout(DeploymentRecord& d, int ready_current, TimePoint now);
  // Why the canary is worse than the stable revision, or "" while it is not (or not known yet).
  std::string canary_verdict(const DeploymentRecord& d) const;
  // Places Pending replicas, highest priority first, preempting lower priorities when nothing
  // fits (fleet/preemption.h).
  void place_pending(TimePoint now);
  std::vector<ReplicaRecord*> pending_by_priority();
  Result<AllocationId> allocate(const AllocationRequest& req, const Pool& view, Decision& dec,
                                TimePoint now);
  // `planned_any`: whether a preemption plan was found, or plans in flight will make room
  // (nullopt also means it fits now).
  std::optional<std::string> preempt_for(const ReplicaRecord& r, const DeploymentSpec& spec,
                                         const AllocationRequest& req, const std::string& why,
                                         std::optional<Pool>& planned, bool& planned_any,
                                         TimePoint now);
  // Which replica holds each allocation (what preemption and defragmentation plans name).
  std::map<AllocationId, ReplicaRecord*> replicas_by_allocation();
  // Moves smaller replicas off one node to make room for `r` (make-before-break), when that is
  // what it lacks: the reason it waits, or nullopt when no move would help or none may start.
  std::optional<std::string> defragment_for(const ReplicaRecord& r, const DeploymentSpec& spec,
                                            const AllocationRequest& req, const Pool& view,
                                            TimePoint now);
  void on_placed(ReplicaRecord& r, const AllocationRequest& req, AllocationId a, TimePoint now);
  // Keeps every deployment's warm reserve (fleet/warm_reserve.h), highest priority first.
  void hold_reserves(TimePoint now);
  void drain(ReplicaRecord& r, const std::string& reason, TimePoint now);
  // Replicas on a Faulty or Lost GPU: stopped at once when their engine cannot serve there
  // (a lost GPU, a fatal XID), else kept serving, as `moving_`, until reconcile() has a
  // replacement Ready elsewhere (make-before-break).
  void evacuate(TimePoint now);
  // Releases the replica's GPUs and drops its record. Takes the id by value: callers often pass
  // the record's own id, which the erase frees.
  void forget(std::string id, TimePoint now);
  void sweep(TimePoint now);  // drops Stopped replicas that were never placed
  void node_lost(NodeRecord& n, TimePoint now);
  Status register_inventory(NodeRecord& n, const NodeReport& hb, TimePoint now);
  void apply_gpu_reports(const NodeReport& hb, TimePoint now);
  // True when a reported load moved away from what the routing table publishes.
  bool apply_replica_reports(const NodeReport& hb, TimePoint now);
  template <typename F>
  void for_each_assigned(const std::string& node, TimePoint now, F&& f) const;
  NodeAssignment assignment_for(const std::string& node, TimePoint now) const;
  // The replica's engine iteration budget (perfmodel/iteration_budget.h), resolved on its first
  // assignment and kept on its record: every heartbeat's assignment names it.
  std::optional<Tokens> iteration_budget(const DeploymentRecord& d, const ReplicaRecord& r) const;
  // Whether the reply may be "unchanged" in place of a set the agent already runs
  // (NodeAssignment::unchanged), and the set a full reply sent, to decide that next time.
  bool may_answer_unchanged(const NodeRecord& n, const NodeReport& hb, TimePoint now) const;
  void remember_sent(NodeRecord& n, const NodeAssignment& reply);
  void publish_after_heartbeat(bool load_moved, TimePoint now);
  // The ids of the replicas placed on `node`, and of those of `deployment`.
  const std::map<std::string, ReplicaRecord*>& on_node(const std::string& node) const;
  const std::set<std::string>& of_deployment(const std::string& deployment) const;
  // Keeps the indexes by state (pending_, unplaced_stopped_) as a replica moves from `from`.
  void index_state(const ReplicaRecord& r, std::optional<ReplicaState> from);
  // Whether a published load has grown too old or become unknown; sets load_expiry_ to the
  // first time one of them does. Reads the published replicas only: no rebuild (#18).
  bool published_load_expired(TimePoint now);
  Duration lease(const NodeRecord& n) const;
  Duration load_max_age() const {
    return std::max(opts_.heartbeat_interval, pacer_.interval()) * kLoadMaxAgeHeartbeats;
  }
  void recommit(NodeRecord& n, TimePoint now);
  // Publishes a new routing table when its replicas changed, or when only their load moved
  // enough (opts_.load_publication).
  void rebuild_routing(TimePoint now);
  Duration routing_batch() const;  // opts_.routing_batch, scaled with the fleet

  void due(TimePoint now);  // tick() has work from now on
  void collect_pool_events();
  std::string new_replica_id(const std::string& deployment);
  int64_t bump_generation();

  Pool pool_;
  Scheduler sched_;
  FleetOptions opts_;
  TimePoint started_{};
  std::map<std::string, DeploymentRecord> deployments_;
  std::map<std::string, ReplicaRecord> replicas_;
  std::map<std::string, NodeRecord> nodes_;
  // Indexes over replicas_, so that a heartbeat or a tick reads what it needs, not every replica
  // of the fleet (#18). Ordered like replicas_, so decisions come out in the same order.
  // node -> the replicas placed there, by id, with their records (a heartbeat reads each of them:
  // no second lookup in replicas_, whose nodes never move)
  std::map<std::string, std::map<std::string, ReplicaRecord*>> by_node_;
  std::map<std::string, std::set<std::string>> by_deployment_;  // deployment -> its replicas
  std::set<std::string> pending_;                               // replicas waiting for placement
  std::set<std::string> unplaced_stopped_;  // stopped before placement: sweep() drops them
  // Deployments whose replicas or spec changed since their last reconcile, and those whose last
  // pass found them at rest (one revision, no rollout, nothing moving): tick() skips a deployment
  // at rest until it changes (#18). Derived state: a restarted fleet reconciles everything once.
  std::set<std::string> to_reconcile_;
  std::set<std::string> at_rest_;
  HeartbeatPacer pacer_;
  std::deque<FleetEvent> events_;
  uint64_t event_seq_ = 0;
  int64_t generation_ = 0;
  uint64_t id_counter_ = 0;
  RoutingTable routing_;
  bool routing_dirty_ = true;  // a record changed since the last rebuild
  std::optional<TimePoint> last_rebuild_;
  // The published table's replicas by id, to compare a heartbeat's loads without a rebuild.
  // With each its record, for the scan for loads grown too old (a forgotten replica leaves it).
  struct Published {
    const RouteReplica* route = nullptr;
    const ReplicaRecord* record = nullptr;
  };
  std::unordered_map<std::string, Published> published_;
  uint64_t heartbeats_ = 0;  // counts heartbeats, to mark the replicas each one names
  std::optional<TimePoint> last_load_publish_;  // the last version that carried fresh loads
  std::optional<TimePoint> load_due_;           // a moved load waits for the interval to pass
  std::optional<TimePoint> load_expiry_;        // the first published load to become too old
  FleetChanges changes_;
  std::optional<TimePoint> due_;
  Preemptions preemptions_;
  WarmReserves reserves_;
  // Ready replicas on a GPU that went Faulty but still serve until a replacement is Ready.
  // Derived from the pool's health each tick, so it needs no persistence: a restarted controller
  // learns the health again from the next heartbeats.
  std::set<std::string> moving_;
  // Ready replicas moved by defragmentation: kept serving, like moving_, until a replacement is
  // Ready, then drained. Not persisted: after a restart the replacement (a persisted Pending or
  // later replica) makes one too many, and the scale-down takes the least advanced.
  std::set<std::string> relocating_;
  std::deque<TimePoint> defrag_moves_;             // when each move of the last minute started
  std::map<std::string, TimePoint> defrag_tried_;  // a pending replica's last fruitless plan
  std::optional<TimePoint> defrag_planned_at_;     // the tick of the last plan
};

// Hash of what a rollout must change (model, engine, resources, performance ...), 10 hex chars.
std::string deployment_revision(const DeploymentSpec& spec);

}  // namespace gf
