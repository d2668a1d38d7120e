// Faults injected into a simulated run at given times, from a small YAML file
// (`gpufleet sim --scenario FILE`): a node lost and back, a GPU failing, an engine crashing. The
// simulator plays each as the live system would meet it (an agent that stops reporting, a GPU
// its agent reports Faulty, a process that exits and is restarted); the core decides the rest.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/units.h"

namespace gf {

enum class FaultKind {
  kNodeLoss,    // the node's agent and every process on it stop: no more heartbeats
  kNodeReturn,  // the node comes back: a fresh agent with no replica
  kGpuFault,    // a GPU fails (a fatal XID): its replica's engine dies, its agent reports it Faulty
  kEngineCrash,  // one replica's engine exits; its agent restarts it (a cold start again)
};

struct ScenarioEvent {
  Duration at{0};  // since the measured trace's start
  FaultKind kind = FaultKind::kNodeLoss;
  std::string node;        // node-loss, node-return, gpu-fault
  int gpu = 0;             // gpu-fault: the node-local index
  std::string deployment;  // engine-crash: its replica with the lowest id that runs
  std::string reason;      // gpu-fault: shown as the GPU's health reason ("XID 79" by default)
};

struct Scenario {
  std::vector<ScenarioEvent> events;  // sorted by time, in file order for equal times
};

const char* to_string(FaultKind kind);

// Parses a scenario:
//   events:
//     - {at: 10m, kind: node-loss, node: a100-1}
//     - {at: 12m, kind: gpu-fault, node: a100-2, gpu: 3, reason: "XID 79"}
//     - {at: 15m, kind: engine-crash, deployment: trace}
//     - {at: 20m, kind: node-return, node: a100-1}
// Every problem is reported with file, line and column ("scenario.yaml:3:20: events[1].kind:
// unknown kind \"node-los\" (known: ...)").
Result<Scenario> parse_scenario(std::string_view text, const std::string& file);
Result<Scenario> load_scenario(const std::string& path);

}  // namespace gf
