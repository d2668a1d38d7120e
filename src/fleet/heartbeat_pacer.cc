#include "fleet/heartbeat_pacer.h"

#include <algorithm>
#include <cmath>

namespace gf {

void HeartbeatPacer::observe(double busy, TimePoint now) {
  busy = std::clamp(busy, 0.0, 1.0);
  if (!last_ || now <= *last_) {
    if (!smoothed_) smoothed_ = busy;
    last_ = now;
    return;
  }
  // An exponential moving average over wall time, whatever the spacing of the readings.
  const double dt = std::chrono::duration<double>(now - *last_).count();
  const double tau = std::max(1e-3, std::chrono::duration<double>(p_.smoothing).count());
  const double alpha = 1.0 - std::exp(-dt / tau);
  smoothed_ = *smoothed_ + alpha * (busy - *smoothed_);
  last_ = now;
  // One change per interval handed out: agents pick a new interval up only at their next
  // heartbeat, so the load cannot answer a change any sooner.
  if (last_change_ && now - *last_change_ < interval_) return;
  Duration next = interval_;
  if (*smoothed_ > p_.target_busy) {
    // The heartbeat load scales with 1/interval: aim straight at the target, at most doubling.
    next = std::chrono::duration_cast<Duration>(interval_ *
                                                std::min(2.0, *smoothed_ / p_.target_busy));
  } else if (const double aim = p_.target_busy * p_.shrink_headroom; *smoothed_ < aim) {
    // Shorter by as much as the load allows: at interval × busy / aim the heartbeats would bring
    // the busy share to `aim` if they were all the work, and less as they are not (the rest
    // does not grow), so it cannot overshoot. At most a quarter at a time. (It shrank only
    // below 0.3 busy: 10,000 agents settled at 2 s with the controller 41% busy, #18.)
    next = std::chrono::duration_cast<Duration>(interval_ * std::max(0.75, *smoothed_ / aim));
  }
  next = std::clamp(next, p_.base, std::max(p_.base, p_.max));
  if (next != interval_) {
    interval_ = next;
    last_change_ = now;
  }
}

Duration HeartbeatPacer::lease(Duration base_lease, Duration told) const {
  if (told <= p_.base || p_.base <= Duration(0)) return base_lease;
  const double stretch =
      std::chrono::duration<double>(told).count() / std::chrono::duration<double>(p_.base).count();
  return std::chrono::duration_cast<Duration>(base_lease * stretch);
}

}  // namespace gf
