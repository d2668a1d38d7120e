// Things that happened in the pool, recorded with time and reason for logs, the events API and
// tests. The pool never logs by itself: shells drain these and decide where they go.
#pragma once

#include <string>
#include <vector>

#include "common/ids.h"
#include "common/units.h"

namespace gf {

enum class PoolEventKind {
  kGpuStateChanged,
  kAllocated,
  kReleased,
  kReserved,
  kReservationReleased,
  kNodeAdded,
  kNodeLost,
};

struct PoolEvent {
  TimePoint time;
  PoolEventKind kind;
  std::string subject;  // GPU UUID, node name or allocation id
  std::string from;     // previous state, when a state changed
  std::string to;
  std::string reason;
};

const char* to_string(PoolEventKind k);

}  // namespace gf
