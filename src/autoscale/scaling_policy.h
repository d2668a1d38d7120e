// The interface every scaling policy implements (threshold, target, predictive, slo): given the
// recent load of one deployment and its replicas, how many replicas it should have, and why.
// Policies keep their own state (a forecaster, learned capacity) and are called once per control
// period. What is common to all — min/max, step sizes, stabilization, scale to and from zero —
// is applied after them by DeploymentScaler, so no policy repeats it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "autoscale/signal_history.h"
#include "common/spec.h"
#include "perfmodel/perf_model.h"

namespace gf {

struct PolicyInput {
  const AutoscalingSpec& spec;
  const SignalHistory& history;  // newest sample last; the newest is known
  int current = 0;               // the replica count the deployment targets now
  TimePoint now{};
  std::optional<TimePoint> last_scale_up;
  std::optional<TimePoint> last_scale_down;
  // What one replica sustains within the SLO, in requests/s, from the perf model for the
  // deployment's GPU at the size window's mean request sizes (slo learns a factor on it); nullopt:
  // not known.
  std::optional<double> model_capacity_rps;
  std::string gpu_model;  // of most of the deployment's replicas; "" when none
  // The perf model of one replica on gpu_model, for policies that size from a latency profile
  // (uses_perf_model()); nullopt otherwise or when the model does not know the pair.
  std::optional<PerfModel> perf;
};

struct Recommendation {
  int replicas = 0;
  std::string rule;    // the rule that decided, short: "above 0.8", "panic", "forecast" ...
  std::string reason;  // with the numbers, for a person
  std::optional<double> forecast;  // predictive and slo: the load they provisioned for
  bool hold_down = false;          // forbid scaling down this period (panic)
};

class ScalingPolicy {
 public:
  virtual ~ScalingPolicy() = default;
  virtual const char* name() const = 0;
  // Whether DeploymentScaler applies the scale-down stabilization window: threshold uses its
  // own cooldowns instead.
  virtual bool stabilized() const { return true; }
  // Whether it reads PolicyInput::perf (the scaler looks the perf model up only for policies that
  // do), and whether it reads PolicyInput::model_capacity_rps too (a bisection over the perf
  // model, priced each period only for the policies that read it).
  virtual bool uses_perf_model() const { return false; }
  virtual bool uses_model_capacity() const { return false; }
  // A baseline modeled from another system's published rules (policy_registry.h).
  virtual bool baseline() const { return false; }
  // Every period's load, known or not, before recommend() (which is skipped at zero replicas
  // and while the load is unknown): a policy that follows a series sees all of it, in step.
  virtual void observe(const LoadSample& /*load*/, const AutoscalingSpec& /*spec*/) {}
  virtual Recommendation recommend(const PolicyInput& in) = 0;
};

// The load a policy sizes for, in the spec's metric, averaged over `window`; 0 when unknown.
double mean_load(const PolicyInput& in, Duration window);
// The metric of one sample.
double load_of(const LoadSample& s, ScalingMetric metric);

}  // namespace gf
