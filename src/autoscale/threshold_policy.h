// `threshold`: the classic rule, kept as the baseline — predicted utilization (moving average
// plus linear trend) above 0.8 adds a replica, below 0.3 removes one, with a cooldown after each
// action. Formulas and sources in docs/autoscaling.md.
#pragma once

#include "autoscale/linear_trend.h"
#include "autoscale/scaling_policy.h"

namespace gf {

class ThresholdPolicy final : public ScalingPolicy {
 public:
  const char* name() const override { return "threshold"; }
  bool stabilized() const override { return false; }  // the cooldowns do that job here
  void observe(const LoadSample& load, const AutoscalingSpec& spec) override;
  Recommendation recommend(const PolicyInput& in) override;

 private:
  std::optional<LinearTrend> trend_;
};

}  // namespace gf
