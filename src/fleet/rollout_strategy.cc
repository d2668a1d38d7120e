#include "fleet/rollout_strategy.h"

#include <algorithm>

namespace gf {

int canary_step_weight(const DeploymentRecord& d) {
  const auto& steps = d.spec.rollout.steps;
  return d.canary_step < static_cast<int>(steps.size())
             ? steps[static_cast<size_t>(d.canary_step)].weight_percent
             : 100;
}

int wanted_current(const DeploymentRecord& d) {
  const auto& ro = d.spec.rollout;
  if (ro.strategy != RolloutStrategy::kCanary || d.stable_revision.empty() ||
      d.canary_step >= static_cast<int>(ro.steps.size()))
    return d.replicas;
  int w = canary_step_weight(d);
  if (w >= 100) return d.replicas;
  return std::clamp((d.replicas * w + 99) / 100, 1, d.replicas);
}

int revision_weight(const DeploymentRecord& d, const std::string& revision, int ready) {
  const auto& ro = d.spec.rollout;
  const bool current = revision == d.revision;
  if (ro.strategy == RolloutStrategy::kRolling) return ready;
  // No rollout in progress (or one just undone): only the current revision serves.
  if (d.stable_revision.empty()) return current ? ready : 0;
  if (ro.strategy == RolloutStrategy::kBlueGreen) {
    // All traffic on one side: the old revision until the new one is complete, then the new.
    return (current == d.switched_at.has_value()) ? ready : 0;
  }
  // Canary: the step's percentage to the new revision, the rest to the stable one.
  int w = canary_step_weight(d);
  if (ready == 0) return 0;
  return current ? w : (revision == d.stable_revision ? 100 - w : 0);
}

std::optional<TimePoint> rollout_deadline(const DeploymentRecord& d,
                                          Duration blue_green_retention) {
  if (d.stable_revision.empty()) return std::nullopt;
  const auto& ro = d.spec.rollout;
  // A step whose replicas are not all Ready yet has no deadline: the heartbeat that reports them
  // Ready starts its pause.
  if (ro.strategy == RolloutStrategy::kCanary && d.canary_step < static_cast<int>(ro.steps.size()))
    return d.step_ready ? std::optional<TimePoint>(
                              *d.step_ready + ro.steps[static_cast<size_t>(d.canary_step)].pause)
                        : std::nullopt;
  if (ro.strategy == RolloutStrategy::kBlueGreen && d.switched_at)
    return *d.switched_at + blue_green_retention;
  return std::nullopt;
}

}  // namespace gf
