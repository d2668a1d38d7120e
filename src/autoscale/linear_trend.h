// The classic threshold autoscaler's predictor: the mean of the last N observations plus their
// least-squares linear trend, extrapolated ahead. The baseline the Holt-Winters forecaster is
// compared with.
#pragma once

#include <vector>

#include "common/result.h"
#include "common/units.h"

namespace gf {

struct LinearTrendConfig {
  Duration window = std::chrono::minutes(1);  // N = window / period observations
  Duration period = std::chrono::seconds(1);
};

class LinearTrend {
 public:
  // An invalid config is an error naming the field.
  static Result<LinearTrend> create(const LinearTrendConfig& config);

  // One value per period, in order. Negative values count as 0; NaN and infinite values are
  // skipped.
  void observe(double value);

  // The least-squares line through the last N observations (fewer until N have come), at
  // `periods_ahead` periods after the last one; clamped at 0. 0 before any observation.
  double forecast(int periods_ahead) const;

  int observations() const { return observations_; }
  int window() const { return static_cast<int>(values_.size()); }

 private:
  explicit LinearTrend(int window) : values_(static_cast<size_t>(window), 0.0) {}

  std::vector<double> values_;  // ring, oldest at next_ once full
  size_t next_ = 0;
  int observations_ = 0;
};

}  // namespace gf
