// Backpressure for agent heartbeats: when the controller's thread is busier than its target, the
// interval handed to agents grows, so that the heartbeat load falls back under the target
// instead of queueing until heartbeats time out and healthy nodes look lost (#18). Node leases
// grow with the interval a node was told, so slowness is never read as node loss.
#pragma once

#include <optional>

#include "common/units.h"

namespace gf {

struct HeartbeatPacing {
  Duration base = std::chrono::seconds(1);  // the interval while the controller keeps up
  Duration max = std::chrono::seconds(30);
  // The busy share of the controller's thread it steers to: heartbeats are most of its work at
  // scale, and the rest (API calls, reconcile passes, watches) needs the remainder.
  double target_busy = 0.6;
  // The interval shrinks back toward `base` while the busy share it would bring stays under
  // target_busy × this (headroom, so that a shrink never overshoots into a grow).
  double shrink_headroom = 0.85;
  // Readings are smoothed over about this long, so one slow reconcile pass does not move it.
  Duration smoothing = std::chrono::seconds(5);
};

class HeartbeatPacer {
 public:
  explicit HeartbeatPacer(HeartbeatPacing p = {}) : p_(p), interval_(p.base) {}

  // The share of the time since the last reading the controller's thread was busy (0..1, CPU
  // time over wall time), read at `now`.
  void observe(double busy, TimePoint now);
  // The interval to hand out now.
  Duration interval() const { return interval_; }
  // The smoothed busy share (for /metrics).
  double busy() const { return smoothed_.value_or(0); }
  // How long a node told `told` may go without a heartbeat before it is lost: the base lease,
  // stretched by the same factor as its interval (the same number of missed heartbeats).
  Duration lease(Duration base_lease, Duration told) const;

 private:
  HeartbeatPacing p_;
  Duration interval_;
  std::optional<double> smoothed_;
  std::optional<TimePoint> last_;
  std::optional<TimePoint> last_change_;
};

}  // namespace gf
