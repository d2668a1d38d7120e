// `kpa`: Knative's Pod Autoscaler, as a baseline. desired = ceil(load / (target x utilization))
// over a 60 s stable window; over a 6 s panic window, a burst needing 2x the Ready replicas
// starts a panic, which scales up to the panic figure at once and never down until a whole
// stable window passes without one. No scale-down delay; at most halving per decision
// (max-scale-down-rate 2); decisions every 2 s (the autoscaler's tick). Source: knative.dev,
// "Configuring the Knative Pod Autoscaler" and config-autoscaler's defaults; docs/autoscaling.md.
#pragma once

#include <optional>

#include "autoscale/scaling_policy.h"

namespace gf {

class KpaPolicy final : public ScalingPolicy {
 public:
  static constexpr Duration kStableWindow = std::chrono::seconds(60);
  static constexpr Duration kPanicWindow = std::chrono::seconds(6);  // 10% of the stable window
  static constexpr double kPanicThreshold = 2.0;
  static constexpr double kMaxScaleDownRate = 2.0;
  static constexpr Duration kTick = std::chrono::seconds(2);

  const char* name() const override { return "kpa"; }
  bool baseline() const override { return true; }
  bool stabilized() const override { return false; }
  Recommendation recommend(const PolicyInput& in) override;

 private:
  std::optional<TimePoint> last_tick_;
  std::optional<TimePoint> panic_until_;
};

}  // namespace gf
