#include "autoscale/kpa_policy.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace gf {

Recommendation KpaPolicy::recommend(const PolicyInput& in) {
  Recommendation r;
  r.replicas = in.current;
  if (last_tick_ && in.now - *last_tick_ < kTick) {
    r.rule = "between ticks";
    r.reason = "the autoscaler ticks every 2s";
    return r;
  }
  last_tick_ = in.now;
  const AutoscalingSpec& a = in.spec;
  const double per_replica = a.replica_capacity * a.target_utilization;
  const double stable = mean_load(in, kStableWindow);
  const double burst = mean_load(in, kPanicWindow);
  const int want_stable = static_cast<int>(std::ceil(stable / per_replica - 1e-9));
  const int want_panic = static_cast<int>(std::ceil(burst / per_replica - 1e-9));
  const int ready = std::max(1, in.history.last()->ready);
  if (want_panic >= kPanicThreshold * ready) panic_until_ = in.now + kStableWindow;
  if (panic_until_ && in.now < *panic_until_) {
    r.replicas = std::max(in.current, want_panic);
    r.rule = "panic";
    r.reason = fmt::format("{:.1f} over 6s needs {} replicas, >= 2x the {} Ready: no scale-down",
                           burst, want_panic, ready);
    r.hold_down = true;
    return r;
  }
  const int floor = static_cast<int>(std::ceil(in.current / kMaxScaleDownRate));
  r.replicas = std::max(want_stable, floor);
  r.rule = "stable";
  r.reason = fmt::format("{:.1f} over 60s / {:.2f} per replica = {}{}", stable, per_replica,
                         want_stable, want_stable < floor ? " (at most halving)" : "");
  return r;
}

}  // namespace gf
