// A workload trace for `gpufleet sim`: the requests to replay, each with its arrival time since the
// trace's start and its token counts, and the summary figures a user checks a trace by.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/units.h"

namespace gf {

// Mooncake's hash_ids cover 512-token prefix blocks; other formats carry none.
inline constexpr Tokens kTracePrefixBlockTokens{512};

struct TraceRequest {
  Duration arrival{0};  // since the trace's start: the first request arrives at 0
  Tokens prompt;        // input tokens, > 0
  Tokens output;        // output tokens, > 0
  // One id per 512-token prefix block, chained (two requests share a leading id only when their
  // whole prefix up to that block matches). Empty when the trace has none.
  std::vector<uint64_t> prefix_blocks;
  std::string model;   // empty: the trace names none (map one with TraceOptions)
  std::string tenant;  // empty: the trace names none
};

struct Trace {
  std::string name;                    // the file's stem, or the generator's name
  std::vector<TraceRequest> requests;  // sorted by arrival
};

// Sorts requests by arrival, keeping the order of equal arrivals (several requests often share a
// millisecond, and a multi-turn conversation's turns must stay in order). True when it had to move
// anything.
bool sort_by_arrival(std::vector<TraceRequest>& requests);

// Mean and nearest-rank percentiles of one token count over a trace.
struct TokenStats {
  double mean = 0;
  Tokens p50;
  Tokens p99;
  Tokens max;
};

// The figures ../shared/data/README.md gives per trace, computed the same way: request rates over
// consecutive windows that start at the first arrival, full windows only (a partial last window
// would understate the rate), and nearest-rank percentiles.
struct TraceStats {
  size_t requests = 0;
  Duration window{0};  // the rate window

  Duration duration{0};  // first to last arrival
  int full_windows = 0;  // windows the rates were computed over
  // Mean and busiest window's request rate, per second. With no full window (a trace shorter
  // than one window) both are requests / duration, over the whole trace.
  double mean_rps = 0;
  double peak_rps = 0;
  TokenStats prompt;
  TokenStats output;
};

TraceStats summarize(const Trace& trace, Duration window = std::chrono::minutes(1));

// The nearest-rank percentile (the smallest value with at least `percent` % of values at or below
// it) of values sorted ascending; 0 when empty. percent in [1, 100].
int64_t nearest_rank(const std::vector<int64_t>& sorted, int percent);

// One line for a user: "azure_llm_2023_conv: 19366 requests over 58.4 min, 5.55 rps mean, 8.45
// peak (58 full 1m windows); prompt tokens mean 1154.7 p50 1020 p99 4142; output tokens ...".
std::string describe(const Trace& trace, const TraceStats& stats);

}  // namespace gf
