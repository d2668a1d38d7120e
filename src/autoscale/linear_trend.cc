#include "autoscale/linear_trend.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace gf {

namespace {
// Sums of window * value^2 stay finite below this.
constexpr double kMaxValue = 1e15;
constexpr int64_t kMaxWindow = 1'000'000;
}  // namespace

Result<LinearTrend> LinearTrend::create(const LinearTrendConfig& c) {
  if (c.period <= Duration::zero()) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("LinearTrendConfig.period must be positive, got {}",
                                  format_duration(c.period)));
  }
  const int64_t n = c.window / c.period;
  if (c.window % c.period != Duration::zero() || n < 2 || n > kMaxWindow) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("LinearTrendConfig.window must be a whole number of periods ({}) between 2 "
                    "and {}, got {}",
                    format_duration(c.period), kMaxWindow, format_duration(c.window)));
  }
  return LinearTrend(static_cast<int>(n));
}

void LinearTrend::observe(double value) {
  if (!std::isfinite(value)) return;
  values_[next_] = std::clamp(value, 0.0, kMaxValue);
  next_ = (next_ + 1) % values_.size();
  ++observations_;
}

double LinearTrend::forecast(int periods_ahead) const {
  const auto n = static_cast<size_t>(std::min<int64_t>(observations_, values_.size()));
  if (n == 0) return 0;
  // x = 0 for the oldest kept observation, n - 1 for the last. Sums are recomputed rather than
  // kept running, so no rounding builds up over a long run; the window is small.
  const size_t oldest = n < values_.size() ? 0 : next_;
  auto at = [&](size_t i) {
    const size_t j = oldest + i;
    return values_[j < values_.size() ? j : j - values_.size()];
  };
  const double x_mean = static_cast<double>(n - 1) / 2;
  double y_mean = 0;
  for (size_t i = 0; i < n; ++i)
    y_mean += at(i);
  y_mean /= static_cast<double>(n);
  double sxy = 0;
  double sxx = 0;
  for (size_t i = 0; i < n; ++i) {
    const double dx = static_cast<double>(i) - x_mean;
    sxy += dx * (at(i) - y_mean);
    sxx += dx * dx;
  }
  const double slope = sxx > 0 ? sxy / sxx : 0.0;
  // The line's value at x = n - 1 + periods_ahead: the mean sits at the window's centre.
  const double ahead = x_mean + static_cast<double>(std::max(periods_ahead, 0));
  return std::max(0.0, y_mean + slope * ahead);
}

}  // namespace gf
