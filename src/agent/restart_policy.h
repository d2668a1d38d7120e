// When to restart an engine process that exited: exponential backoff with jitter, and crash-loop
// detection. Pure (time and randomness come in), so the supervisor and tests share it.
#pragma once

#include <cstdint>
#include <deque>

#include "common/units.h"

namespace gf {

struct RestartPolicyConfig {
  Duration initial_backoff = std::chrono::seconds(1);
  Duration max_backoff = std::chrono::minutes(5);
  double jitter = 0.2;          // +-20%, so replicas that died together do not restart in lockstep
  int crash_loop_restarts = 5;  // this many exits ...
  Duration crash_loop_window = std::chrono::minutes(10);  // ... within this window: CrashLoop
  Duration stable_after = std::chrono::minutes(10);       // running this long resets the backoff
};

class RestartPolicy {
 public:
  explicit RestartPolicy(RestartPolicyConfig config = {}) : config_(config) {}

  // The process started (or was adopted) at `now`.
  void started(TimePoint now) { started_ = now; }
  // It exited at `now`; returns how long to wait before starting it again. `uniform01` is a
  // random number in [0, 1) from the caller's seeded generator.
  Duration exited(TimePoint now, double uniform01);
  // Whether the recent exits amount to a crash loop (reported as a replica state).
  bool crash_looping() const { return crash_looping_; }
  int consecutive_failures() const { return failures_; }

 private:
  RestartPolicyConfig config_;
  TimePoint started_{};
  int failures_ = 0;
  bool crash_looping_ = false;
  std::deque<TimePoint> exits_;
};

}  // namespace gf
