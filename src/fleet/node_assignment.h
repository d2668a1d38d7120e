// What the fleet answers a node's report with: the whole set of replicas that node must run, so
// any single answer is enough for the agent. Typed values; wire/agent_protocol.h is its JSON form.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/spec.h"
#include "common/units.h"

namespace gf {

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
  // Tokens one engine iteration may carry, the deployment's engine.maxBatchedTokens with
  // `auto` resolved for this GPU (perfmodel/iteration_budget.h); nullopt: the engine's default.
  std::optional<Tokens> max_batched_tokens;
  // The secret the engine must demand of every request (admission/api_key.h); filled by the
  // controller's shell, empty when it has no admin token.
  std::string api_key;
  // On its way out: it left the routing table, and the agent keeps it only until its engine has
  // no request in flight or `drain_timeout` (counted from when the agent first sees the flag)
  // passes, then stops it. Never started by this entry. An agent that does not know the flag
  // keeps it running until the controller drops it from the set at the drain timeout.
  bool draining = false;
  Duration drain_timeout{0};
};

struct NodeAssignment {
  // Monotonic across controller restarts. The agent applies an answer's desired set only if its
  // generation is not older than the last one applied.
  int64_t generation = 0;
  std::vector<ReplicaAssignment> replicas;
  // Nothing the node must run changed since the generation it applied: `replicas` is empty and
  // the agent keeps the set it has, under `generation`. Sent only to an agent that accepts it.
  bool unchanged = false;
  // The fleet hands out the report interval, so that it can slow reports down when it is busy.
  Duration heartbeat_interval = std::chrono::seconds(1);
};

}  // namespace gf
