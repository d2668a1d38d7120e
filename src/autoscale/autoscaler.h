// The autoscaler: every deployment with spec.autoscaling follows its load. It takes the gateways'
// traffic reports, runs each deployment's DeploymentScaler once per control period, and applies
// what changed through Fleet::scale, which records the decision as an event. Pure: the live
// controller calls tick() at next_deadline() on a real clock; the simulator does the same in
// virtual time.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "autoscale/deployment_scaler.h"
#include "autoscale/load_accumulator.h"
#include "fleet/fleet.h"

namespace gf {

struct AutoscalerOptions {
  // A gateway's queue figures count this long after its report (gateways report every second).
  Duration report_stale_after = std::chrono::seconds(5);
};

class Autoscaler {
 public:
  explicit Autoscaler(AutoscalerOptions options = {})
      : opts_(options), load_(options.report_stale_after) {}

  // A gateway's report. Requests waiting for a deployment at zero replicas make it due at once:
  // the first replica is asked for within this call's control period, not the next.
  void record(const TrafficReport& report, TimePoint now);
  // Runs every deployment whose period has ended (or that waits at zero with demand), applies
  // the counts that changed with fleet.scale(), and returns every evaluation made.
  std::vector<ScalingDecision> tick(Fleet& fleet, TimePoint now);
  // The earliest period end, or a time already past when a deployment at zero has demand or a
  // deployment of `fleet` autoscales and has no scaler yet; nullopt when none autoscales.
  std::optional<TimePoint> next_deadline(const Fleet& fleet) const;

  // Requests waiting for `model` in the gateways now (their latest fresh reports).
  double queued(std::string_view model, TimePoint now) const { return load_.queued(model, now); }
  // The deployment's scaler; nullptr when it does not autoscale (or tick() has not seen it).
  const DeploymentScaler* scaler(std::string_view deployment) const;

 private:
  // Creates, re-specs or drops scalers to match the fleet's deployments.
  void sync(Fleet& fleet, TimePoint now);
  // Ranks the GPU models of each autoscaled deployment by value when the pool's GPUs changed.
  void rank_gpus(Fleet& fleet);
  // Adds what each replica's engine TTFT and queue-time histograms counted since the last tick
  // to its deployment's share for the next period.
  void count_engine_histograms(const Fleet& fleet, TimePoint now);

  AutoscalerOptions opts_;
  LoadAccumulator load_;
  std::map<std::string, DeploymentScaler, std::less<>> scalers_;
  std::map<std::string, std::string, std::less<>> model_of_;  // deployment -> model
  std::set<std::string, std::less<>> zero_models_;  // served by a deployment at 0 replicas
  bool urgent_ = false;                             // one of them has demand
  // What each deployment's GPU order was computed from (pool size, model, GPUs, allowed models),
  // and the order: the fleet grows on its first model.
  struct RankedFor {
    size_t pool_gpus = 0;
    std::string model;
    int gpus = 0;
    std::vector<std::string> gpu_models;
    std::vector<std::string> order;
  };
  std::map<std::string, RankedFor, std::less<>> ranked_for_;
  // The engines' cumulative TTFT and queue-time counts as last seen, by replica, and what each
  // deployment's engines counted since its last period. A replica's first reading of each is
  // only a baseline: what it counted before is of unknown age (a controller restart would count
  // hours at once).
  struct EngineHistograms {
    std::vector<uint64_t> ttft;
    std::vector<uint64_t> queue;
  };
  struct Seen {
    EngineHistograms counts;
    uint64_t sweep = 0;  // the count_engine_histograms() that last found its replica
  };
  std::unordered_map<std::string, Seen> engine_seen_;
  uint64_t sweep_ = 0;
  std::map<std::string, EngineHistograms, std::less<>> engine_new_;
};

}  // namespace gf
