// Measures one simulated run: each request's outcome and latencies, the GPU time replicas held and
// the time their engines were busy, scaling actions, cold starts and replica counts over time.
// Only the measured span counts: requests of the warm-up replay (SimOptions::warmup) and GPU time
// before the measured trace's start are not charged.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "autoscale/scaling_decision.h"
#include "sim/sim_options.h"
#include "sim/sim_result.h"
#include "sim/simulation.h"

namespace gf {

enum class RequestOutcome : uint8_t {
  kServed,    // answered whole
  kRejected,  // refused (admission, queue timeout, longer than any replica's KV cache)
  kFailed,    // broke, and no retry saved it; or still unfinished when the run ended
};

class RunRecorder {
 public:
  // `in.trace` is the replay: its requests from `first_measured` on are the measured trace, whose
  // time 0 is `measure_from`; arrivals count from `origin`.
  RunRecorder(const SimInput& in, const SimOptions& opts, TimePoint origin, TimePoint measure_from,
              size_t first_measured);

  // `scheduled`: when the attempt that answered first got a place in its engine's batch.
  void request(size_t i, RequestOutcome outcome, std::optional<TimePoint> first_token,
               std::optional<TimePoint> scheduled, TimePoint end);
  void started(size_t deployment, TimePoint now);
  void stopped(size_t deployment, int gpus, double price_per_gpu_hour, TimePoint started,
               TimePoint now);
  void busy(size_t deployment, int gpus, Duration iteration, TimePoint ended);
  void scaled(size_t deployment, const ScalingDecision& d);
  // The same replica's engine started again after a crash: a cold start, not a new replica.
  void restarted(size_t deployment, TimePoint now);
  // Replicas started and Ready per deployment now; a point is kept when they changed.
  void sample(TimePoint now, const std::vector<int>& started, const std::vector<int>& ready,
              const std::map<std::string, int>& gpus);

  SimResult finish(TimePoint now, uint64_t events);

 private:
  struct Samples {
    std::vector<double> ttft_ms, tpot_ms, e2e_ms;
    double busy_gpu_s = 0;
    double held_gpu_s = 0;
    int live = 0;
  };
  double since_start(TimePoint t) const;

  const SimInput& in_;
  const SimOptions& opts_;
  const TimePoint origin_;
  const TimePoint start_;  // the measured trace's time 0
  const size_t first_measured_;
  std::vector<size_t> deployment_of_;  // per trace request
  std::vector<DeploymentFigures> figures_;
  std::vector<Samples> samples_;
  std::vector<TimelinePoint> timeline_;
  std::vector<ScalingAction> actions_;
  TimePoint last_end_{};
};

}  // namespace gf
