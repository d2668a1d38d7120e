// `ray-serve`: Ray Serve's default autoscaling policy, as a baseline. desired = load over the
// 30 s look-back / target per replica, smoothed (factor 1.0), applied only once the same direction
// has been asked for 30 s in a row (upscale_delay_s) or 600 s (downscale_delay_s). Source:
// ray-project/ray python/ray/serve/autoscaling_policy.py and AutoscalingConfig's defaults;
// docs/autoscaling.md.
#pragma once

#include <optional>

#include "autoscale/scaling_policy.h"

namespace gf {

class RayServePolicy final : public ScalingPolicy {
 public:
  static constexpr Duration kLookBack = std::chrono::seconds(30);
  static constexpr Duration kUpscaleDelay = std::chrono::seconds(30);
  static constexpr Duration kDownscaleDelay = std::chrono::seconds(600);
  static constexpr double kSmoothing = 1.0;

  const char* name() const override { return "ray-serve"; }
  bool baseline() const override { return true; }
  bool stabilized() const override { return false; }
  Recommendation recommend(const PolicyInput& in) override;

 private:
  std::optional<TimePoint> up_since_;    // asked for more, without a break, since
  std::optional<TimePoint> down_since_;  // asked for fewer, without a break, since
};

}  // namespace gf
