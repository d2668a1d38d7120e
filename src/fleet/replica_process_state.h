// A replica's engine process as its agent sees it: the agent's supervisor moves it through these
// states and reports them, and the fleet turns them into the controller's replica states.
#pragma once

#include <optional>
#include <string_view>

namespace gf {

enum class ReplicaProcessState {
  kWaiting,    // not running; starts at start_at (first start, or backoff after an exit)
  kStarting,   // running, not ready yet
  kReady,      // running and answering its readiness path
  kCrashLoop,  // waiting too, after too many exits in a short time
  kStopping,   // SIGTERM sent, waiting for the exit
  kStopped,
};

const char* to_string(ReplicaProcessState s);
// The inverse of to_string(), for states reported over the wire.
std::optional<ReplicaProcessState> parse_replica_process_state(std::string_view name);

}  // namespace gf
