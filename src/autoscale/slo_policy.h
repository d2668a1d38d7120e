// `slo`: keeps TTFT p95 and time per output token p95 under the deployment's targets. Per GPU
// model it learns online how much load per replica the SLO held at, as a factor on the perf
// model's sustainable rate at the size window's request sizes (Dynamo's planner corrects its
// profile the same way), so that a belief learned on short requests is not applied unchanged to
// long ones; it sizes the deployment as load ÷ that capacity with headroom, for the larger of the
// recent arrival rate and its forecast over a cold start. Formulas in docs/autoscaling.md.
#pragma once

#include <map>
#include <string>

#include "autoscale/arrival_forecast.h"
#include "autoscale/scaling_policy.h"

namespace gf {

class SloPolicy final : public ScalingPolicy {
 public:
  const char* name() const override { return "slo"; }
  bool uses_perf_model() const override { return true; }
  bool uses_model_capacity() const override { return true; }
  void observe(const LoadSample& load, const AutoscalingSpec& spec) override {
    forecast_.observe(load, spec);
  }
  Recommendation recommend(const PolicyInput& in) override;
  // What it believes one replica of `gpu_model` sustains within the SLO; nullopt before any
  // seed or observation.
  std::optional<double> capacity(const std::string& gpu_model) const;

 private:
  // Requests/s per replica = factor × scale. With a perf-model figure, scale is that figure at the
  // size window's request sizes (the latest one seen) and factor what experience made of it;
  // without one (a pair the perf model does not know), scale is 1 and factor the belief itself.
  // Every load below is in the same units, so it converts with them.
  struct Belief {
    double factor = 1;
    double scale = 1;
    bool relative = false;  // scale follows the perf model
    double floor = 0;       // the least factor a back-off may leave: a quarter of the seed
    int violations = 0;     // periods in a row the SLO was missed with requests piling up
    // The highest load per replica at which the SLO held lately, and when (slo_policy.cc).
    double held_load = 0;
    std::optional<TimePoint> held_at;
    double rps() const { return factor * scale; }
  };
  // Judges the newest sample and, when `update`, learns from it; returns whether the SLO held in
  // it (nullopt: too few answers to say).
  std::optional<bool> learn(const PolicyInput& in, Belief& b, bool update);

  std::map<std::string, Belief> belief_;  // by GPU model
  ArrivalForecast forecast_;
};

}  // namespace gf
