#include "autoscale/scaling_policy.h"

namespace gf {

double load_of(const LoadSample& s, ScalingMetric metric) {
  return metric == ScalingMetric::kRps ? s.arrival_rps : s.concurrency();
}

double mean_load(const PolicyInput& in, Duration window) {
  const ScalingMetric metric = in.spec.metric;
  return in.history
      .mean(window, in.now, [metric](const LoadSample& s) { return load_of(s, metric); })
      .value_or(0.0);
}

}  // namespace gf
