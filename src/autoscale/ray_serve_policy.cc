#include "autoscale/ray_serve_policy.h"

#include <cmath>

#include <fmt/format.h>

namespace gf {

Recommendation RayServePolicy::recommend(const PolicyInput& in) {
  const AutoscalingSpec& a = in.spec;
  const double per_replica = a.replica_capacity * a.target_utilization;
  const double load = mean_load(in, kLookBack);
  const double raw = load / per_replica;
  const int want = static_cast<int>(std::ceil(in.current + kSmoothing * (raw - in.current) - 1e-9));
  Recommendation r;
  r.replicas = in.current;
  r.rule = "steady";
  r.reason = fmt::format("{:.1f} over 30s / {:.2f} per replica = {}", load, per_replica, want);
  if (want > in.current) {
    down_since_.reset();
    if (!up_since_) up_since_ = in.now;
    if (in.now - *up_since_ >= kUpscaleDelay) {
      r.replicas = want;
      r.rule = "upscale";
      up_since_.reset();
    } else {
      r.reason += "; waiting out upscale_delay_s 30";
    }
  } else if (want < in.current) {
    up_since_.reset();
    if (!down_since_) down_since_ = in.now;
    if (in.now - *down_since_ >= kDownscaleDelay) {
      r.replicas = want;
      r.rule = "downscale";
      down_since_.reset();
    } else {
      r.reason += "; waiting out downscale_delay_s 600";
    }
  } else {
    up_since_.reset();
    down_since_.reset();
  }
  return r;
}

}  // namespace gf
