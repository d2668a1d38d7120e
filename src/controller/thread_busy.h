// The CPU share of the calling thread between two samples: the controller's load signal for
// heartbeat backpressure (fleet/heartbeat_pacer.h). Call sample() from the thread to measure.
#pragma once

#include <chrono>
#include <optional>

namespace gf {

class ThreadBusy {
 public:
  // CPU time over wall time since the previous call (0..1); nullopt on the first call, when no
  // time passed, or where the thread's CPU time cannot be read.
  std::optional<double> sample();

 private:
  std::optional<std::chrono::steady_clock::time_point> wall_;
  double cpu_s_ = 0;
};

}  // namespace gf
