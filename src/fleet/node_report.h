// What one node's agent tells the fleet every heartbeat: its whole GPU inventory with telemetry
// and health, the replicas it runs and their process states, and the health transitions since the
// last acknowledged report. Typed values; wire/agent_protocol.h is its JSON form.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/units.h"
#include "fleet/replica_load.h"
#include "fleet/replica_process_state.h"
#include "pool/gpu_state.h"

namespace gf {

struct GpuReport {
  std::string uuid;
  int index = 0;
  std::string name;  // GPU model, "A100-80GB"
  MiB memory{0};
  Health health = Health::kHealthy;
  std::string reason;
  int utilization_pct = 0;
  int temperature_c = 0;
  int power_w = 0;
  MiB memory_used{0};
};

struct ReplicaReport {
  std::string id;
  int64_t generation = 0;  // of the assignment the agent runs it under
  ReplicaProcessState state = ReplicaProcessState::kWaiting;
  std::string reason;
  uint16_t port = 0;
  int restarts = 0;
  // The engine's own account of its load (fleet/replica_load.h); nullopt: unknown (no fresh
  // reading, or an agent too old to send one).
  std::optional<ReplicaLoad> load;
};

struct HealthEventReport {
  std::string gpu;
  Health from = Health::kHealthy;
  Health to = Health::kHealthy;
  std::string reason;
};

// Every report holds the node's whole inventory, so any single one rebuilds the fleet's view of
// the node: a lost, retried or reordered report does no harm (docs/agent.md, "Protocol").
struct NodeReport {
  std::string node;
  std::string agent_id;  // random per agent process: tells a restarted agent from a late message
  uint64_t seq = 0;      // increases per message of one agent_id; older ones are ignored
  std::string host;      // where this node's replicas are reached
  uint16_t port = 0;     // the agent's own HTTP port
  std::map<std::string, std::string> labels;
  std::vector<std::vector<int>> nvlink_groups;
  std::vector<GpuReport> gpus;
  std::vector<ReplicaReport> replicas;
  std::vector<HealthEventReport> events;  // health transitions since the last acknowledged beat
  int64_t applied_generation = 0;         // the last desired set the agent applied
  // The agent keeps its set when a reply says "unchanged" (NodeAssignment::unchanged), so the
  // fleet may answer a heartbeat that changes nothing without repeating the whole set.
  bool accepts_unchanged = false;
};

}  // namespace gf
