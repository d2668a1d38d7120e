#include "autoscale/linear_trend.h"

#include <algorithm>

namespace gf {

void LinearTrend::observe(double value) {
  values_.push_back(value);
  if (static_cast<int>(values_.size()) > window_) values_.pop_front();
}

double LinearTrend::forecast(int periods_ahead) const {
  const double n = static_cast<double>(values_.size());
  if (values_.empty()) return 0;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < values_.size(); ++i) {
    const double x = static_cast<double>(i);
    sx += x;
    sy += values_[i];
    sxx += x * x;
    sxy += x * values_[i];
  }
  const double mean = sy / n;
  const double denom = n * sxx - sx * sx;
  const double slope = denom > 0 ? (n * sxy - sx * sy) / denom : 0.0;
  // The line through the mean at the window's centre, carried to the newest point and beyond.
  const double at = (n - 1) / 2.0;
  return std::max(0.0, mean + slope * ((n - 1) - at + periods_ahead));
}

}  // namespace gf
