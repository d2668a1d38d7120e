// GPU health and operator states, and the rules for moving between them and for allocating.
#pragma once

#include <optional>
#include <string_view>

#include <string>

#include "common/result.h"

namespace gf {

// What telemetry says about a GPU. The agent's health policy drives these; the pool enforces the
// legal moves. Recovery is always possible (through Probation): a GPU is never latched unhealthy.
enum class Health {
  kHealthy,
  kSuspect,    // early warning (one hot sample, a correctable error burst); still usable
  kReserved,   // free memory below the floor; used only by requests that allow it
  kFaulty,     // overheat, fatal XID, ECC double-bit error: never allocated
  kProbation,  // recovering: not allocated until it proves itself
  kLost,       // node gone or GPU fell off the bus
};

// What an operator said. Orthogonal to health so that cordoning a Faulty GPU and later uncordoning
// it does not forget that it is Faulty.
enum class AdminState {
  kNone,
  kCordoned,  // no new allocations; existing ones stay
  kDraining,  // no new allocations; existing ones are being moved away
};

// The single state shown to users: Lost beats the operator's word, which beats health.
enum class GpuState {
  kHealthy,
  kSuspect,
  kReserved,
  kFaulty,
  kProbation,
  kCordoned,
  kDraining,
  kLost
};

GpuState effective_state(Health h, AdminState a);

// Whether the health machine may move from `from` to `to`. Same state is always allowed (a no-op).
bool health_transition_allowed(Health from, Health to);

// Whether a GPU in this state may take a new allocation.
bool allows_new_allocation(Health h, AdminState a, bool request_allows_reserved);

const char* to_string(Health h);
// The inverse of to_string(Health), for states reported over the wire.
std::optional<Health> parse_health(std::string_view name);
const char* to_string(AdminState a);
const char* to_string(GpuState s);

}  // namespace gf
