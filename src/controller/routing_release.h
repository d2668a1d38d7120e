// When a new routing-table version goes to the gateways that watch it. Each release sends the
// whole table to every watcher: at 40,000 replicas a table is about 4 MB, and 100 gateways make
// one version 400 MB of encoding and socket writes on the controller's one serving thread. A ramp
// of a large fleet makes a version every few hundred milliseconds, and releasing each one starved
// the heartbeats until agents timed out (#18). So releases are spaced to keep watcher traffic
// within a byte budget; a version made meanwhile is released with the next one (gateways always
// get the latest table, a little later). Small tables are released at once.
#pragma once

#include <algorithm>
#include <cstddef>

#include "common/units.h"

namespace gf {

class RoutingRelease {
 public:
  // 200 MB/s: a fifth of what one core copies through loopback sockets, leaving the rest to
  // heartbeats.
  explicit RoutingRelease(double bytes_per_second = 200e6) : budget_(bytes_per_second) {}

  // Whether a version made now may be released now; else not before next().
  bool may_release(TimePoint now) const { return now >= next_; }
  TimePoint next() const { return next_; }

  // A release at `now` that sends `bytes` (the table's encoding) to each of `watchers`.
  void released(TimePoint now, size_t bytes, size_t watchers) {
    const double seconds = static_cast<double>(bytes) * static_cast<double>(watchers) / budget_;
    next_ = now + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
  }

 private:
  double budget_;
  TimePoint next_{};
};

}  // namespace gf
