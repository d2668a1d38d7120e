// How busy an engine is by its own account: the requests in its batch and in its queue, read from
// the Prometheus text it serves at its metrics path under the names its adapter gives
// (vLLM's vllm:num_requests_running and vllm:num_requests_waiting). Pure: the agent fetches the
// text, this reads it. The drain of a replica waits for this to reach zero.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "agent/engine_adapter.h"
#include "common/units.h"

namespace gf {

struct EngineLoad {
  double running = 0;  // requests in the batch
  double waiting = 0;  // requests queued
  double in_flight() const { return running + waiting; }
};

// One scrape's text and when it was asked for: the load it shows is as of that time or later.
struct MetricsScrape {
  std::string text;
  TimePoint asked_at{};
};

// Sums each metric over its label sets (one per served model). nullopt when the text does not
// carry the running metric (or the adapter names none): the load is unknown, not zero. A missing
// waiting metric counts as zero, since some engines only report a batch.
std::optional<EngineLoad> parse_engine_load(std::string_view metrics_text,
                                            const EngineMetricNames& names);

}  // namespace gf
