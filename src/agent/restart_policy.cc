#include "agent/restart_policy.h"

#include <algorithm>
#include <cmath>

namespace gf {

Duration RestartPolicy::exited(TimePoint now, double uniform01) {
  // A process that ran long enough was healthy: its exit starts a fresh backoff sequence.
  if (now - started_ >= config_.stable_after) failures_ = 0;
  failures_ += 1;

  exits_.push_back(now);
  while (!exits_.empty() && now - exits_.front() > config_.crash_loop_window)
    exits_.pop_front();
  crash_looping_ = static_cast<int>(exits_.size()) >= config_.crash_loop_restarts;

  // initial * 2^(failures-1), capped, then jittered by +-jitter.
  double base =
      std::chrono::duration<double>(config_.initial_backoff).count() * std::pow(2.0, failures_ - 1);
  base = std::min(base, std::chrono::duration<double>(config_.max_backoff).count());
  double factor = 1.0 + config_.jitter * (2.0 * std::clamp(uniform01, 0.0, 1.0) - 1.0);
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(base * factor));
}

}  // namespace gf
