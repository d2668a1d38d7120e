// `target`: proportional scaling like the Kubernetes HPA — desired = ceil(load / per-replica
// target) with a tolerance band — with Knative KPA's panic mode for bursts. Formulas and sources
// in docs/autoscaling.md.
#pragma once

#include "autoscale/scaling_policy.h"

namespace gf {

class TargetPolicy final : public ScalingPolicy {
 public:
  const char* name() const override { return "target"; }
  Recommendation recommend(const PolicyInput& in) override;
  bool panicking(TimePoint now) const { return panic_until_ && now < *panic_until_; }

 private:
  std::optional<TimePoint> panic_until_;
};

}  // namespace gf
