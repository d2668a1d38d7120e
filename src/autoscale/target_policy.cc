#include "autoscale/target_policy.h"

#include <algorithm>
#include <cmath>

#include <fmt/compile.h>
#include <fmt/format.h>

namespace gf {

Recommendation TargetPolicy::recommend(const PolicyInput& in) {
  const AutoscalingSpec& a = in.spec;
  const double per_replica = a.replica_capacity * a.target_utilization;
  const double stable = mean_load(in, a.window);
  const double burst = mean_load(in, a.panic_window);
  const int want_stable = static_cast<int>(std::ceil(stable / per_replica - 1e-9));
  const int want_burst = static_cast<int>(std::ceil(burst / per_replica - 1e-9));
  const char* unit = a.metric == ScalingMetric::kRps    ? "req/s"
                     : a.metric == ScalingMetric::kWork ? "replicas of work"
                                                        : "concurrent requests";

  // KPA: a burst that needs panic_threshold times the replicas there are starts a panic; it lasts
  // until a whole stable window has passed without one. While panicking, never scale down.
  if (in.current > 0 && want_burst >= a.panic_threshold * in.current) {
    panic_until_ = in.now + a.window;
  }
  if (panicking(in.now)) {
    Recommendation r;
    r.replicas = std::max({in.current, want_burst, want_stable});
    r.rule = "panic";
    r.reason = fmt::format(FMT_COMPILE("panic: {:.1f} {} over the last {} need {} replicas, at "
                                       "least {:.1f}x the {} there are; "
                                       "no scale-down until the burst is over"),
                           burst, unit, format_duration(a.panic_window), want_burst,
                           a.panic_threshold, in.current);
    r.hold_down = true;
    return r;
  }
  Recommendation r;
  if (in.current > 0) {
    // HPA's tolerance: a ratio within 1 ± tolerance of the target changes nothing.
    const double ratio = stable / (in.current * per_replica);
    if (std::abs(ratio - 1.0) <= a.tolerance) {
      r.replicas = in.current;
      r.rule = "within tolerance";
      r.reason = fmt::format(
          FMT_COMPILE("{:.1f} {} is {:.0f}% of the target for {} replicas (tolerance {:.0f}%)"),
          stable, unit, ratio * 100, in.current, a.tolerance * 100);
      return r;
    }
  }
  r.replicas = want_stable;
  r.rule = "proportional";
  r.reason = fmt::format(
      FMT_COMPILE("{:.1f} {} over {} / {:.2f} per replica ({:.3g} x {:.0f}%) = {} replicas"),
      stable, unit, format_duration(a.window), per_replica, a.replica_capacity,
      a.target_utilization * 100, want_stable);
  return r;
}

}  // namespace gf
