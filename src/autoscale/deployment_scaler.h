// One deployment's autoscaling: its policy and load history, and the rules every policy shares —
// min/max, step sizes, the scale-down stabilization window, scale to zero after an idle period
// and from zero on the first request. Called once per control period with that period's load.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "autoscale/scaling_decision.h"
#include "autoscale/scaling_policy.h"
#include "common/result.h"

namespace gf {

// What the deployment looks like when a period ends.
struct DeploymentState {
  int current = 0;  // the replica count it targets now
  ReplicasSpec range;
  std::string gpu_model;
  std::optional<PerfModel> perf;  // see PolicyInput
};

class DeploymentScaler {
 public:
  // Errors: a policy name the registry does not know.
  static Result<DeploymentScaler> create(std::string deployment, const AutoscalingSpec& spec,
                                         TimePoint now);

  // A new spec for the same policy: history and learned state are kept, but for a new metric,
  // whose samples the old ones do not compare with.
  void respec(const AutoscalingSpec& spec);
  const AutoscalingSpec& spec() const { return spec_; }
  const char* policy() const { return policy_->name(); }
  // Whether a period's DeploymentState should carry the perf model: the policy sizes from it,
  // or the metric is work.
  bool uses_perf_model() const {
    return policy_->uses_perf_model() || spec_.metric == ScalingMetric::kWork;
  }

  // When the current period ends.
  TimePoint next_period() const { return next_; }
  ScalingDecision step(const LoadSample& load, const DeploymentState& state, TimePoint now);

  const SignalHistory& history() const { return history_; }
  // The last evaluation, and the last decisions that changed the count (oldest first).
  const std::optional<ScalingDecision>& last() const { return last_; }
  const std::deque<ScalingDecision>& changes() const { return changes_; }

 private:
  DeploymentScaler(std::string deployment, const AutoscalingSpec& spec,
                   std::unique_ptr<ScalingPolicy> policy, TimePoint now);
  // Stabilization, the zero rules and step sizes, applied to the policy's advice.
  void constrain(ScalingDecision& d, const Recommendation& rec, const DeploymentState& state,
                 TimePoint now);
  // Sets the newest sample's work (ScalingMetric::kWork) when the metric is work.
  void weigh_work(const DeploymentState& state, TimePoint now);
  // What one replica sustains within the SLO by the perf model at the size window's request sizes,
  // for the policies that size from it (PolicyInput::model_capacity_rps); nullopt otherwise.
  std::optional<double> model_capacity(const DeploymentState& state, TimePoint now) const;
  // The mean arrival rate and request sizes over the size window: means, so fractional tokens.
  struct WindowSizes {
    double arrival_rps = 0;
    double mean_prompt_tokens = 1;
    double mean_output_tokens = 1;
  };
  WindowSizes window_sizes(TimePoint now) const;
  // Matches replicas that became Ready with the scale-ups that asked for them.
  void track_readiness(ScalingDecision& d, TimePoint now);

  std::string deployment_;
  AutoscalingSpec spec_;
  std::unique_ptr<ScalingPolicy> policy_;
  SignalHistory history_;
  TimePoint next_;
  std::optional<TimePoint> last_up_;
  std::optional<TimePoint> last_down_;
  std::deque<std::pair<TimePoint, int>> advice_;  // for the stabilization window
  // One entry per replica asked for and not yet Ready, oldest first; and the Ready count seen.
  std::deque<TimePoint> awaiting_ready_;
  int last_ready_ = 0;
  std::optional<ScalingDecision> last_;
  std::deque<ScalingDecision> changes_;
};

}  // namespace gf
