// How busy an engine is by its own account: the requests in its batch and in its queue, its
// KV-cache usage and its token counters, read from the Prometheus text it serves at its metrics
// path under the names its adapter gives (vLLM's vllm:num_requests_running, ...). Pure: the agent
// fetches the text, this reads it. The drain of a replica waits for the requests to reach zero;
// every heartbeat carries a summary of the latest reading (agent/load_summary.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/engine_adapter.h"
#include "common/units.h"

namespace gf {

struct EngineLoad {
  double running = 0;  // requests in the batch
  double waiting = 0;  // requests queued
  // nullopt when the engine does not expose the metric (or its adapter names none): unknown.
  std::optional<double> kv_cache_usage;     // 0..1, the mean over label sets
  std::optional<double> prompt_tokens;      // counter since the engine started
  std::optional<double> generation_tokens;  // counter since the engine started
  // Time to first token of every request since the engine started, in common/traffic_report.h's
  // buckets (kTtftBoundsMs, the gateways' too). Each of the engine's own buckets counts in ours
  // that holds its upper bound, so no latency is read lower than it was. Empty: the engine
  // exposes no TTFT histogram (or its adapter names none).
  std::vector<uint64_t> ttft_counts;
  // Each request's time in the engine's queue before its first schedule (vLLM's
  // request_queue_time_seconds), in the same buckets and read the same way. Empty: not exposed.
  std::vector<uint64_t> queue_counts;
  double in_flight() const { return running + waiting; }
};

// One scrape's text and when it was asked for: the load it shows is as of that time or later.
struct MetricsScrape {
  std::string text;
  TimePoint asked_at{};
};

// A scrape's load, as of the time the scrape was asked for.
struct EngineReading {
  EngineLoad load;
  TimePoint asked_at{};
};

// Sums each count over its label sets (one per served model). nullopt when the text does not
// carry the running metric (or the adapter names none): the load is unknown, not zero. A missing
// waiting metric counts as zero, since some engines only report a batch; the KV usage and the
// token counters stay nullopt when missing. The KV usage is read under the fallback name only when
// the main one is absent (an engine exposing both must not count twice). The TTFT histogram is
// re-bucketed one label set at a time (two need not share their bounds), then summed.
std::optional<EngineLoad> parse_engine_load(std::string_view metrics_text,
                                            const EngineMetricNames& names);

}  // namespace gf
