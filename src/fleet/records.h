// The controller's records as plain values: deployments, replicas and their lifecycle states,
// and nodes and events.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/routing_table.h"
#include "common/spec.h"
#include "fleet/replica_load.h"

namespace gf {

// A replica's life as the controller sees it. Pending carries the placement's reason; Failed is
// terminal (its node was lost, its GPUs went away); CrashLoop is the agent's verdict and lasts
// until the engine starts to answer again.
enum class ReplicaState {
  kPending,
  kPlaced,
  kStarting,
  kReady,
  kDraining,
  kStopped,
  kFailed,
  kCrashLoop
};
const char* to_string(ReplicaState s);
std::optional<ReplicaState> parse_replica_state(std::string_view s);

struct ReplicaRecord {
  std::string id;
  std::string deployment;
  std::string revision;
  std::string node;               // empty while Pending
  std::vector<std::string> gpus;  // UUIDs, CUDA_VISIBLE_DEVICES order
  std::string gpu_model;
  double memory_fraction = 0.9;
  ReplicaState state = ReplicaState::kPending;
  std::string reason;
  int64_t generation = 0;  // the assignment's generation, set when placed
  uint16_t port = 0;       // reported by the agent
  int restarts = 0;
  TimePoint since{};  // of the current state (controller clock; not persisted)
  AllocationId allocation;
  uint64_t reported_in = 0;  // the last heartbeat that named it (Fleet's count; not persisted)
  // The engine's latest load as its agent read it, and when (the heartbeat's time less the
  // reading's age); none: unknown. Kept on the record, not in a map beside it, because every
  // heartbeat writes it for every replica (#18). Not persisted: the next heartbeat brings it.
  std::optional<ReplicaLoad> load;
  TimePoint load_as_of{};
  // The engine's iteration budget as its assignment names it (Fleet::iteration_budget), resolved
  // on the first assignment and kept: every heartbeat's reply names it. Not persisted: derived
  // from the spec and the GPU model.
  mutable std::optional<std::optional<Tokens>> iteration_budget;
};

// Previous revisions are kept so `rollout undo` can go back.
struct RevisionRecord {
  std::string revision;
  std::string manifest;
  std::optional<DeploymentSpec> spec;  // what an automatic rollback applies
};

// What gateways reported for one revision during the current rollout.
struct RevisionStats {
  int64_t requests = 0;
  int64_t errors = 0;
  std::vector<uint64_t> ttft_counts;  // kTtftBoundsMs buckets
};

struct DeploymentRecord {
  DeploymentSpec spec;
  std::string manifest;  // as applied, so a restart re-reads exactly what the user gave
  std::string revision;  // hash of what changes the running replicas (not the replica count)
  int replicas = 1;      // target count, within spec.replicas.min..max
  std::vector<RevisionRecord> history;  // oldest first, at most kMaxHistory
  // Where a blue-green or canary rollout stands (persisted, so a restart resumes it).
  std::string stable_revision;  // the revision serving before this rollout; empty when none
  int canary_step = 0;          // index into spec.rollout.steps; steps.size() = past the last
  TimePoint step_started{};     // controller clock; a restart starts the pause again
  // When every replica of the current step was Ready: the step's pause counts from here, so a
  // canary's cold start does not eat its observation time (#17, item 11: a 15 s step gave the
  // canary 0.2 s of traffic). Not persisted: a restart waits for Ready again.
  std::optional<TimePoint> step_ready;
  std::optional<TimePoint> switched_at;  // blue-green: when traffic moved to the new revision
  std::map<std::string, RevisionStats> traffic;  // by revision, since the rollout started
  std::string rollback_reason;                   // set by canary analysis; tick() rolls back
  // The autoscaler's order of GPU models for new replicas (best value first); empty = the spec's
  // own preference. Not persisted: the autoscaler sets it again after a restart.
  std::vector<std::string> gpu_order;
};

enum class NodeState { kUnknown, kReady, kLost };
const char* to_string(NodeState s);

struct NodeRecord {
  std::string name;
  std::string host;
  uint16_t agent_port = 0;
  std::string agent_id;
  uint64_t seq = 0;
  NodeState state = NodeState::kUnknown;
  TimePoint last_seen{};
  std::optional<NodeIndex> pool_index;  // once its inventory is known
  int64_t applied_generation = 0;
  Duration told_interval{0};  // the heartbeat interval in the last reply: its lease follows
  // The set in the last full reply (id, generation, revision of each) and its generation, for
  // "unchanged" replies; -1: none sent.
  struct SentReplica {
    std::string id;
    int64_t generation = 0;
    std::string revision;
  };
  std::vector<SentReplica> sent;
  int64_t sent_generation = -1;
};

struct FleetEvent {
  TimePoint time{};
  std::string kind;     // ReplicaState, NodeLost, DeploymentApplied, PoolEvent kinds ...
  std::string subject;  // replica id, node or deployment name
  std::string from;
  std::string to;
  std::string reason;
  uint64_t seq = 0;  // 1, 2, 3 ... in the order they happened: watchers resume after one
};

}  // namespace gf
