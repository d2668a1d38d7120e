// The wall clock, for shells only: core code is handed `now` and never reads it.
#pragma once

#include "common/clock.h"
#include "common/io/real_clock.h"

namespace gf {

// Monotonic wall time (steady_clock): never jumps backwards when NTP adjusts the system clock.
class RealClock final : public Clock {
 public:
  TimePoint now() const override;
};

}  // namespace gf
