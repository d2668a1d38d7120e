// A fake node agent for the Fleet's tests: reports GPUs and replicas like a real agent's
// heartbeat and applies the assignment it gets back, with no process and no clock of its own.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "fleet/fleet.h"

namespace gf {

// A one-GPU engine-sim Deployment of `replicas` (at most `max`): what most Fleet tests place.
inline DeploymentSpec one_gpu_deployment(const std::string& name, int replicas, int max = 8) {
  DeploymentSpec d;
  d.name = name;
  d.model = "meta-llama/Llama-2-7b-hf";
  d.engine.type = EngineType::kEngineSim;
  d.resources.gpus = 1;
  d.replicas.min = replicas;
  d.replicas.max = max;
  return d;
}

// A node agent as the controller sees it: it runs what the last reply asked for and reports it
// Ready on the next beat (when `healthy_replicas`).
struct FakeAgent {
  std::string node;
  int gpus = 4;
  std::string model = "A100-80GB";
  uint64_t seq = 0;
  std::string agent_id = "agent-1";
  int64_t applied = 0;
  std::map<std::string, int64_t> running;  // id -> generation
  bool healthy_replicas = true;
  // Engines still busy when their replica drains: the agent keeps reporting them (Ready) until
  // this is cleared; otherwise a draining replica stops at once, as an idle engine does.
  bool busy_engines = false;
  // What each replica's engine says about its load; a replica without an entry reports none.
  std::map<std::string, ReplicaLoad> loads;
  // Beats a new replica reports Starting before Ready (its engine's cold start).
  int cold_start_beats = 0;
  std::map<std::string, int> beats_seen;
  // Health the agent's policy gave a GPU (by local index), with its reason; Healthy otherwise.
  std::map<int, std::pair<Health, std::string>> gpu_health;

  NodeReport beat() {
    NodeReport h;
    h.node = node;
    h.agent_id = agent_id;
    h.seq = ++seq;
    h.host = "10.0.0." + node.substr(node.size() - 1);
    h.port = 9000;
    std::vector<int> all;
    for (int i = 0; i < gpus; ++i) {
      all.push_back(i);
      GpuReport g;
      g.uuid = "GPU-" + node + "-" + std::to_string(i);
      g.index = i;
      g.name = model;
      g.memory = MiB{81920};
      if (auto bad = gpu_health.find(i); bad != gpu_health.end()) {
        g.health = bad->second.first;
        g.reason = bad->second.second;
      }
      h.gpus.push_back(g);
    }
    h.nvlink_groups = {all};
    int port = 20000;
    for (const auto& [id, gen] : running) {
      const bool starting = ++beats_seen[id] <= cold_start_beats;
      h.replicas.push_back(ReplicaReport{id, gen,
                                         starting           ? ReplicaProcessState::kStarting
                                         : healthy_replicas ? ReplicaProcessState::kReady
                                                            : ReplicaProcessState::kCrashLoop,
                                         "", static_cast<uint16_t>(port++), 0});
      if (auto l = loads.find(id); l != loads.end()) h.replicas.back().load = l->second;
    }
    h.applied_generation = applied;
    return h;
  }

  // One round trip; applies the reply like ControllerLink does.
  NodeAssignment exchange(Fleet& f, TimePoint now) {
    auto r = f.heartbeat(beat(), now);
    EXPECT_TRUE(r.ok()) << r.error().message;
    if (!r.ok() || r->generation < applied) return {};
    running.clear();
    for (const auto& a : r->replicas) {
      if (!a.draining || busy_engines) running[a.id] = a.generation;
    }
    applied = r->generation;
    return *r;
  }
};

}  // namespace gf
