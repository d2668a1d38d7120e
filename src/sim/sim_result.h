// What one simulated run measured, per deployment and over all: latency percentiles, SLO
// attainment, failures, GPU-hours and cost, utilization and scaling activity.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/units.h"

namespace gf {

// Nearest-rank percentiles, milliseconds; zero with no sample.
struct LatencySummary {
  double p50 = 0;
  double p95 = 0;
  double p99 = 0;
  size_t samples = 0;
};

struct RunFigures {
  size_t requests = 0;
  size_t served = 0;   // answered whole
  size_t met_slo = 0;  // served within both targets
  // Served but not within them: why. A first token after the TTFT target (whatever the rest), or
  // one in time and the tokens after it slower than the TPOT target. served = met_slo + both.
  size_t missed_ttft = 0;
  size_t missed_tpot = 0;
  // The late first tokens by the longer part of their time to first token: waiting for a place
  // in an engine's batch (in a gateway or the engine's queue: too few replicas, or a busy one
  // chosen; attempts that broke before the one that answered count here too), or from there on (a
  // long prompt's prefill, its chunks sharing iterations with other work, a preemption).
  // missed_ttft = missed_ttft_waiting + missed_ttft_prefill.
  size_t missed_ttft_waiting = 0;
  size_t missed_ttft_prefill = 0;
  size_t rejected = 0;        // refused by admission, or too long for any replica
  size_t failed = 0;          // an attempt broke and no retry saved it, or never finished
  double slo_attainment = 0;  // met_slo / requests (1 with no request)
  LatencySummary ttft_ms;
  LatencySummary tpot_ms;
  LatencySummary e2e_ms;
  double gpu_hours = 0;        // GPUs held by replicas, from process start to stop
  double cost = 0;             // the same at the GPUs' pricePerHour
  double gpu_utilization = 0;  // engine-busy GPU time / held GPU time
  int scaling_actions = 0;     // autoscaler decisions that changed a count
  int cold_starts = 0;         // replica processes started (restarts after a crash included)
  int engine_restarts = 0;     // of which after an engine crash (--scenario)
  int max_replicas = 0;        // the most replicas held at once
};

struct DeploymentFigures {
  std::string name;
  RunFigures figures;
};

// Replicas and arrivals over time, for charts: one sample per control period with a change.
struct TimelinePoint {
  double t = 0;               // seconds since the trace's start
  std::vector<int> replicas;  // per deployment (in SimResult::deployments order), started ones
  std::vector<int> ready;
  std::map<std::string, int> gpus;  // GPUs held by replicas, by GPU model
};

// An autoscaler decision that changed a count, with its rule and numbers (as GET /api/v1/scaling
// shows them live).
struct ScalingAction {
  double t = 0;  // seconds since the trace's start (negative: during the warm-up)
  std::string deployment;
  int from = 0;
  int to = 0;
  std::string rule;
  std::string reason;
  // The engines' TTFT p95 over the decision's period, from their own histograms as the agents
  // report them (interpolated within its bucket); none when no engine answered a request then.
  std::optional<double> engine_ttft_p95_ms;
  // Their queue time's p95 over the same period (time from arrival to a place in a batch).
  std::optional<double> engine_queue_p95_ms;
};

struct SimResult {
  std::string policy;  // the scaling policy every deployment ran ("fixed": none)
  RunFigures overall;
  std::vector<DeploymentFigures> deployments;
  std::vector<TimelinePoint> timeline;
  std::vector<ScalingAction> actions;
  // TTFT and time per output token of served requests at each percent 0..100 (101 values, ms;
  // empty with none), for latency CDFs.
  std::vector<double> ttft_cdf_ms;
  std::vector<double> tpot_cdf_ms;
  double simulated_seconds = 0;  // virtual time from the first arrival to the last end
  uint64_t events =
      0;  // engine steps (a quiet run of iterations is one), arrivals, control periods
};

}  // namespace gf
