// vLLM's request-latency histogram buckets (its e2e latency and queue time), and where a queue
// time lands once an agent has re-bucketed vLLM's histogram into the gateways' TTFT buckets:
// engine-sim serves these buckets, and the simulator's engines count a queue time as a live agent
// would read it from vLLM.
#pragma once

#include <array>
#include <cstddef>

#include "common/traffic_report.h"

namespace gf {

// In seconds; vLLM's list goes on to 7,680 s, past the gateways' last bucket (60 s) either way.
inline constexpr std::array<double, 15> kVllmRequestLatencyBucketsS = {
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10, 15, 20, 30.0, 40.0, 50.0, 60.0};

// The gateways' TTFT bucket that holds the upper bound of vLLM's bucket for `ms` (as the agent's
// re-bucketing places it): a queue time of 10 ms reads as one of up to 300 ms, in (250, 500].
inline size_t vllm_request_latency_bucket(double ms) {
  for (double le : kVllmRequestLatencyBucketsS) {
    if (ms <= le * 1000.0) return ttft_bucket_of_bound(le);
  }
  return kTtftBoundsMs.size();
}

}  // namespace gf
