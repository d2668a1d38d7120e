// `predictive`: forecasts arrivals (autoscale/arrival_forecast.h) over the replica's cold start
// plus one period, provisions for the forecast's upper bound, and falls back to `target` while
// the forecast's own error is high. It never provides less than `target` would for the load seen
// now. Formulas in docs/autoscaling.md.
#pragma once

#include "autoscale/arrival_forecast.h"
#include "autoscale/target_policy.h"

namespace gf {

class PredictivePolicy final : public ScalingPolicy {
 public:
  const char* name() const override { return "predictive"; }
  void observe(const LoadSample& load, const AutoscalingSpec& spec) override {
    forecast_.observe(load, spec);
  }
  Recommendation recommend(const PolicyInput& in) override;
  const ArrivalForecast& forecast() const { return forecast_; }

 private:
  TargetPolicy target_;  // the reactive floor, and the fallback
  ArrivalForecast forecast_;
};

}  // namespace gf
