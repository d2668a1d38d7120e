// When an agent sends its next heartbeat. On a cadence kept from its own previous send, not from
// when the reply came: after a controller pause every reply arrives at once, and agents that
// waited an interval from their reply would from then on beat together in one burst, queueing
// behind each other at every beat (#18, seen at 5,000 simulated agents). A small random
// stretch of each interval spreads agents started together (a fleet booted at once, or all
// reconnecting after an outage) over the interval.
#pragma once

#include <algorithm>

#include "common/units.h"

namespace gf {

// How much each interval is stretched or shortened at most, as a share of it.
inline constexpr double kHeartbeatJitter = 0.05;

// `sent`: when the previous heartbeat went out; `every`: the interval the controller handed out;
// `u`: a uniform random draw in [0, 1). Never earlier than `now`: a heartbeat overdue because its
// reply was late goes out at once, and the ones it missed are not sent in a burst after it.
inline TimePoint next_heartbeat(TimePoint sent, Duration every, TimePoint now, double u) {
  const double stretch = 1.0 + kHeartbeatJitter * (2.0 * std::clamp(u, 0.0, 1.0) - 1.0);
  const auto step = std::chrono::duration_cast<Duration>(every * stretch);
  return std::max(sent + step, now);
}

}  // namespace gf
