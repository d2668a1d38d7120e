#include "autoscale/scaling_policy.h"

namespace gf {

double load_of(const LoadSample& s, ScalingMetric metric) {
  switch (metric) {
    case ScalingMetric::kRps:
      return s.arrival_rps;
    case ScalingMetric::kWork:
      // Without a perf model for the pair there is no work to weigh: requests/s stand in, which
      // over-provisions (a replica's whole work is far more than 1 request/s) rather than starve.
      return s.work.value_or(s.arrival_rps);
    case ScalingMetric::kConcurrency:
      break;
  }
  return s.concurrency();
}

double mean_load(const PolicyInput& in, Duration window) {
  const ScalingMetric metric = in.spec.metric;
  return in.history
      .mean(window, in.now, [metric](const LoadSample& s) { return load_of(s, metric); })
      .value_or(0.0);
}

}  // namespace gf
