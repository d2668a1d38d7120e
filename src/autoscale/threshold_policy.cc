#include "autoscale/threshold_policy.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace gf {

void ThresholdPolicy::observe(const LoadSample& load, const AutoscalingSpec& a) {
  const int periods = static_cast<int>(a.window / a.period);
  if (!trend_ || trend_->window() != periods) {
    auto t = LinearTrend::create(LinearTrendConfig{a.window, a.period});
    if (t) trend_.emplace(std::move(*t));
  }
  // An unknown period is skipped by the trend (NaN), not read as zero load.
  if (trend_)
    trend_->observe(load.known ? load_of(load, a.metric)
                               : std::numeric_limits<double>::quiet_NaN());
}

Recommendation ThresholdPolicy::recommend(const PolicyInput& in) {
  const AutoscalingSpec& a = in.spec;
  // The classic predictor looks one period ahead.
  const double predicted = trend_ ? trend_->forecast(1) : mean_load(in, a.window);
  const double utilization = predicted / (in.current * a.replica_capacity);
  Recommendation r;
  r.replicas = in.current;
  r.forecast = predicted;
  const auto since = [&](const std::optional<TimePoint>& t) {
    return t ? in.now - *t : Duration::max();
  };
  if (utilization > a.scale_up_threshold) {
    if (since(in.last_scale_up) < a.scale_up_cooldown) {
      r.rule = "cooldown";
      r.reason = fmt::format(
          "utilization {:.2f} is above {:.2f}, but the last scale-up was {} ago "
          "(cooldown {})",
          utilization, a.scale_up_threshold, format_duration(since(in.last_scale_up)),
          format_duration(a.scale_up_cooldown));
      return r;
    }
    r.replicas = in.current + 1;
    r.rule = fmt::format("above {:.2f}", a.scale_up_threshold);
    r.reason = fmt::format(
        "predicted utilization {:.2f} (load {:.1f} over {} replicas of {:.1f}) "
        "is above {:.2f}: one more",
        utilization, predicted, in.current, a.replica_capacity, a.scale_up_threshold);
    return r;
  }
  if (utilization < a.scale_down_threshold) {
    const Duration quiet = std::min(since(in.last_scale_up), since(in.last_scale_down));
    if (quiet < a.scale_down_cooldown) {
      r.rule = "cooldown";
      r.reason = fmt::format(
          "utilization {:.2f} is below {:.2f}, but the last scaling was {} ago "
          "(cooldown {})",
          utilization, a.scale_down_threshold, format_duration(quiet),
          format_duration(a.scale_down_cooldown));
      return r;
    }
    r.replicas = in.current - 1;
    r.rule = fmt::format("below {:.2f}", a.scale_down_threshold);
    r.reason = fmt::format("predicted utilization {:.2f} is below {:.2f}: one fewer", utilization,
                           a.scale_down_threshold);
    return r;
  }
  r.rule = "within thresholds";
  r.reason = fmt::format("predicted utilization {:.2f} is within [{:.2f}, {:.2f}]", utilization,
                         a.scale_down_threshold, a.scale_up_threshold);
  return r;
}

}  // namespace gf
