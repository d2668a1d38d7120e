#include "autoscale/hpa_policy.h"

#include <cmath>

#include <fmt/format.h>

namespace gf {

Recommendation HpaPolicy::recommend(const PolicyInput& in) {
  Recommendation r;
  r.replicas = in.current;
  if (last_sync_ && in.now - *last_sync_ < kSyncPeriod) {
    r.rule = "between syncs";
    r.reason = fmt::format("next sync {} after the last", format_duration(kSyncPeriod));
    return r;
  }
  last_sync_ = in.now;
  const AutoscalingSpec& a = in.spec;
  const double target = a.replica_capacity * a.target_utilization;
  // The metric's current value per replica, as the metrics API serves it: its mean over the sync
  // period.
  const double load = mean_load(in, kSyncPeriod);
  const double ratio = load / (std::max(1, in.current) * target);
  if (std::abs(ratio - 1.0) <= a.tolerance) {
    r.rule = "within tolerance";
    r.reason = fmt::format("usage ratio {:.2f} within {:.0f}%", ratio, a.tolerance * 100);
    return r;
  }
  r.replicas = static_cast<int>(std::ceil(std::max(1, in.current) * ratio - 1e-9));
  r.rule = "proportional";
  r.reason =
      fmt::format("ceil({} x {:.1f} / {:.2f} per replica / {}) = {}", std::max(1, in.current),
                  load / std::max(1, in.current), target, std::max(1, in.current), r.replicas);
  return r;
}

}  // namespace gf
