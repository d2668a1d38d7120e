// `hpa`: the Kubernetes Horizontal Pod Autoscaler's rule, as a baseline to compare with. Every
// 15 s sync period: desired = ceil(current x metric / target), nothing within the 10% tolerance;
// scale-down stabilization (the highest recommendation of the last 300 s) comes from
// DeploymentScaler, with spec.stabilization. Source: kubernetes.io, "Horizontal Pod Autoscaling"
// (algorithm details, stabilization window, default behavior); docs/autoscaling.md.
#pragma once

#include <optional>

#include "autoscale/scaling_policy.h"

namespace gf {

class HpaPolicy final : public ScalingPolicy {
 public:
  // --horizontal-pod-autoscaler-sync-period's default.
  static constexpr Duration kSyncPeriod = std::chrono::seconds(15);

  const char* name() const override { return "hpa"; }
  bool baseline() const override { return true; }
  Recommendation recommend(const PolicyInput& in) override;

 private:
  std::optional<TimePoint> last_sync_;
};

}  // namespace gf
