// The agent's half of the agent <-> controller protocol (fleet/node_report.h,
// fleet/node_assignment.h): builds each heartbeat from the GPU monitor and the replica set, and
// applies the desired replicas a reply carries. No I/O here: the agent command sends and receives;
// tests drive it directly.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/gpu_monitor.h"
#include "agent/replica_set.h"
#include "fleet/node_assignment.h"
#include "fleet/node_report.h"

namespace gf {

struct ControllerLinkConfig {
  std::string node;
  std::string agent_id;  // random per agent process
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // the agent's HTTP port
  std::map<std::string, std::string> labels;
  // SIGTERM to SIGKILL for a replica the controller drops, or whose drain ended (its engine idle,
  // or the drain timeout the controller sent passed).
  Duration drain = std::chrono::seconds(10);
};

class ControllerLink {
 public:
  explicit ControllerLink(ControllerLinkConfig config) : cfg_(std::move(config)) {}

  // Health transitions to report; kept until a reply acknowledges the heartbeat that carried them.
  void add_events(const std::vector<HealthTransition>& transitions);

  // Each replica carries its engine's load when its latest reading is at most
  // kLoadMaxAgeHeartbeats heartbeat intervals old at `now` (agent/load_summary.h).
  NodeReport build(const GpuMonitor& monitor, const ReplicaSet& replicas, TimePoint now);
  // The controller answered the last heartbeat built: its events were received.
  void acknowledged();

  // Applies the reply's desired set: starts what is missing, stops what is no longer listed. A
  // reply older than the last one applied is ignored (kFailedPrecondition), so a late or
  // duplicated reply cannot undo a newer decision. An "unchanged" reply applies the last set
  // again under its generation. Per-replica problems (a GPU that is not on
  // this node) are returned as messages; the rest of the set is still applied.
  Result<std::vector<std::string>> apply(const NodeAssignment& reply, ReplicaSet& replicas,
                                         const std::vector<GpuInfo>& gpus, TimePoint now);

  int64_t applied_generation() const { return applied_; }
  // The controller's heartbeat interval, from its last reply (1 s until one arrives).
  Duration heartbeat_interval() const { return interval_; }
  uint64_t seq() const { return seq_; }

 private:
  ControllerLinkConfig cfg_;
  uint64_t seq_ = 0;
  int64_t applied_ = 0;
  Duration interval_ = std::chrono::seconds(1);
  std::vector<HealthEventReport> pending_;
  // Each GPU's last transition reason, sent with its health in every heartbeat: the controller
  // shows it ("overheat: 95°C >= 85°C for 3 samples", not "reported by agent") and decides by it
  // whether a replica there can keep serving while it is moved (pool/health_policy.h).
  std::map<std::string, std::string> reasons_;
  size_t in_flight_ = 0;  // events carried by the last heartbeat built
  // The last reply that carried a whole set: an "unchanged" reply applies it again.
  std::optional<NodeAssignment> last_set_;
};

// NVLink cliques from each GPU's peer list: GPU i and its peers form one group.
std::vector<std::vector<int>> nvlink_groups(const std::vector<GpuInfo>& gpus);

}  // namespace gf
