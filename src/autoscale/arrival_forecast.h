// A deployment's arrival rate forecast over the time a new replica takes to serve (its cold
// start plus one period), kept by the policies that provision ahead (predictive, slo): a
// Holt-Winters forecaster fed every period, configured from the spec, that says whether its
// forecast can be trusted now.
#pragma once

#include <optional>
#include <string>

#include "autoscale/holt_winters.h"
#include "autoscale/load_sample.h"
#include "common/spec.h"

namespace gf {

class ArrivalForecast {
 public:
  // Every period's load; an unknown one is a missing value.
  void observe(const LoadSample& load, const AutoscalingSpec& spec);

  struct Usable {
    HoltWinters::Forecast at_horizon;
    int horizon = 0;  // periods
    double error = 0;
    std::string summary;  // "forecast 12.0 req/s in 1m1s (upper 14.2, error 0.08, seasonal)"
  };
  // The forecast at the horizon when its recent error is within spec.max_forecast_error;
  // otherwise nullopt and `why` says which (warming up, or the error).
  std::optional<Usable> usable(const AutoscalingSpec& spec, std::string& why) const;

  const HoltWinters* forecaster() const { return hw_ ? &*hw_ : nullptr; }
  static int horizon(const AutoscalingSpec& spec);

 private:
  std::optional<HoltWinters> hw_;
  Duration period_{0};
  Duration season_{0};
};

}  // namespace gf
