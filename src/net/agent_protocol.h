// The agent <-> controller protocol: one message each way, as plain structs with JSON codecs.
// The agent POSTs a Heartbeat to /api/v1/agents/heartbeat every second; the reply carries the
// replicas that node must run. Every heartbeat holds the node's whole inventory and every reply
// the node's whole desired set, so any single message is enough to rebuild the other side's view:
// a lost, retried or reordered message does no harm (see docs/agent.md, "Protocol").
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/spec.h"
#include "common/units.h"

namespace gf::net {

inline constexpr int kAgentProtocolVersion = 1;

struct GpuReport {
  std::string uuid;
  int index = 0;
  std::string name;  // GPU model, "A100-80GB"
  MiB memory{0};
  std::string health = "Healthy";  // gf::Health names
  std::string reason;
  int utilization_pct = 0;
  int temperature_c = 0;
  int power_w = 0;
  MiB memory_used{0};
};

struct ReplicaReport {
  std::string id;
  int64_t generation = 0;  // of the assignment the agent runs it under
  std::string state;       // ReplicaProcessState names: Waiting, Starting, Ready, CrashLoop ...
  std::string reason;
  uint16_t port = 0;
  int restarts = 0;
};

struct HealthEventReport {
  std::string gpu;
  std::string from;
  std::string to;
  std::string reason;
};

struct Heartbeat {
  int version = kAgentProtocolVersion;
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
};

struct ReplicaAssignment {
  std::string id;
  int64_t generation = 0;
  std::string deployment;
  std::string revision;
  std::string model;
  EngineType engine = EngineType::kEngineSim;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::vector<std::string> gpus;  // UUIDs on this node, in CUDA_VISIBLE_DEVICES order
  std::string gpu_model;
  double memory_fraction = 0.9;
  std::optional<PerformanceSpec> performance;
};

struct HeartbeatReply {
  int version = kAgentProtocolVersion;
  // Monotonic across controller restarts. The agent applies a reply's desired set only if its
  // generation is not older than the last one applied.
  int64_t generation = 0;
  std::vector<ReplicaAssignment> replicas;
  Duration heartbeat_interval = std::chrono::seconds(1);
};

std::string to_json(const Heartbeat& h);
std::string to_json(const HeartbeatReply& r);
// Errors name the field that was wrong ("gpus[2].uuid: must be a string").
Result<Heartbeat> parse_heartbeat(std::string_view json);
Result<HeartbeatReply> parse_heartbeat_reply(std::string_view json);

// The inverse of gf::to_string(EngineType).
Result<EngineType> parse_engine_type(std::string_view name);

}  // namespace gf::net
