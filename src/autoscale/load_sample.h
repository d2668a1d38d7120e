// One control period of a deployment's load, as the autoscaler sees it: what the gateways
// reported (arrivals, tokens, queue, latency), the deployment's replicas at the period's end, and
// what their engines said about themselves in their agents' heartbeats.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/units.h"

namespace gf {

struct LoadSample {
  TimePoint at{};  // the end of the period
  Duration span{0};
  // False when no gateway reported during the period: the load is unknown, never zero.
  bool known = false;
  double arrival_rps = 0;
  double prompt_tps = 0;              // prompt tokens per second (estimated)
  double output_tps = 0;              // output tokens per second of finished requests
  double queued = 0;                  // waiting in the gateways now (the latest report of each)
  double in_flight = 0;               // sent to replicas and not finished
  std::optional<double> ttft_p95_ms;  // of the answers in the period; nullopt: none
  std::optional<double> tpot_p95_ms;
  // The period's answers by latency bucket (common/traffic_report.h bounds; empty: none), so that
  // a policy can judge a percentile over a whole window rather than over one period's handful.
  std::vector<uint64_t> ttft_counts;
  std::vector<uint64_t> tpot_counts;
  // The deployment's replicas: Ready, and placed or starting (they will serve soon).
  int ready = 0;
  int starting = 0;
  // The engines' own account (fleet/replica_load.h) at the period's end, over the Ready replicas
  // whose load is known: how many those are, the requests running and waiting in their engines
  // (summed) and their mean KV-cache usage. nullopt when no replica reported it: unknown, never
  // zero. Shown with each decision and used by routing; `slo` reads engine_waiting to tell a
  // growing backlog from a draining one, and no policy sizes on them.
  int engines_reporting = 0;
  std::optional<int> engine_running;
  std::optional<int> engine_waiting;
  std::optional<double> engine_kv_cache_usage;
  // Time to first token by the engines' own histograms, of the answers since the deployment's
  // last period, in the gateways' TTFT buckets (empty: no engine reports one), and its p95.
  // Engine-side only: the wait in a gateway's queue is not in it, the wait in the engine's is.
  std::vector<uint64_t> engine_ttft_counts;
  std::optional<double> engine_ttft_p95_ms;
  // The same engines' queue time (ReplicaLoad::queue_counts) of the requests that finished since
  // the last period, in the same buckets (empty: no engine reports one), and its p95.
  std::vector<uint64_t> engine_queue_counts;
  std::optional<double> engine_queue_p95_ms;

  // Replicas' worth of work that arrived (ScalingMetric::kWork), by the deployment's perf model
  // for its main GPU model; nullopt when the metric is another or the perf model does not know
  // the pair. Set by DeploymentScaler::step on the sample it has just added to its history, by
  // the window that sample ends.
  std::optional<double> work;

  double concurrency() const { return queued + in_flight; }
  bool idle() const { return known && arrival_rps == 0 && concurrency() == 0; }
};

}  // namespace gf
