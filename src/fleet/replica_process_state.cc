#include "fleet/replica_process_state.h"

namespace gf {

const char* to_string(ReplicaProcessState s) {
  switch (s) {
    case ReplicaProcessState::kWaiting:
      return "Waiting";
    case ReplicaProcessState::kStarting:
      return "Starting";
    case ReplicaProcessState::kReady:
      return "Ready";
    case ReplicaProcessState::kCrashLoop:
      return "CrashLoop";
    case ReplicaProcessState::kStopping:
      return "Stopping";
    case ReplicaProcessState::kStopped:
      return "Stopped";
  }
  return "?";
}

std::optional<ReplicaProcessState> parse_replica_process_state(std::string_view name) {
  for (auto s : {ReplicaProcessState::kWaiting, ReplicaProcessState::kStarting,
                 ReplicaProcessState::kReady, ReplicaProcessState::kCrashLoop,
                 ReplicaProcessState::kStopping, ReplicaProcessState::kStopped}) {
    if (name == to_string(s)) return s;
  }
  return std::nullopt;
}

}  // namespace gf
