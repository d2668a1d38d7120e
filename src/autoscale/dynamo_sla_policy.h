// `dynamo-sla`: NVIDIA Dynamo's SLA planner, as a baseline. Every 180 s adjustment interval (after
// a 30 s start delay) it predicts the next interval's load with the constant predictor (the last
// interval's), and sizes from a latency profile — ours is the perf model: prefill replicas for
// rate x ISL x min(1, prefill correction) at the profile's prefill throughput, decode replicas for
// rate x OSL at the best batched decode throughput whose iteration stays under the ITL target
// divided by the decode correction. Corrections are observed / expected latency. Dynamo scales
// prefill and decode workers apart; one aggregated engine does both, so the two shares of a
// replica's time are added. Source: ai-dynamo/dynamo docs/architecture/sla_planner.md;
// docs/autoscaling.md.
#pragma once

#include <optional>

#include "autoscale/scaling_policy.h"

namespace gf {

class DynamoSlaPolicy final : public ScalingPolicy {
 public:
  static constexpr Duration kAdjustmentInterval = std::chrono::seconds(180);
  static constexpr Duration kStartDelay = std::chrono::seconds(30);

  const char* name() const override { return "dynamo-sla"; }
  bool baseline() const override { return true; }
  bool stabilized() const override { return false; }
  bool uses_perf_model() const override { return true; }
  Recommendation recommend(const PolicyInput& in) override;

 private:
  std::optional<TimePoint> first_;
  std::optional<TimePoint> last_;
};

}  // namespace gf
