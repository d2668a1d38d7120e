// What `gpufleet sim` does to a loaded trace before replaying it: cut a time window, speed it up
// or slow it down, and give its requests models and tenants.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/units.h"
#include "sim/trace.h"

namespace gf {

struct WeightedName {
  std::string name;
  double weight = 1;  // > 0; only ratios matter
};

// "llama-70b=3,qwen-7b=1" (weights), "llama-70b,qwen-7b" (1 each) or a mix. Names must be
// distinct and weights positive numbers; an error says which entry is wrong.
Result<std::vector<WeightedName>> parse_weighted_names(std::string_view text);

enum class NameMapping {
  // Each request draws its name independently with the seeded Rng, in proportion to the weights:
  // shares vary like a real mix does.
  kRandom,
  // Smooth weighted round-robin (nginx's): names interleave evenly and every prefix of the trace
  // holds each name's share to within one request. Ignores the seed.
  kInterleave,
};

struct TraceOptions {
  // The window kept: requests with start <= arrival < start + length, on the trace's own time.
  // The kept requests' arrivals count from `start`, so a quiet opening stays quiet.
  Duration start{0};
  std::optional<Duration> length;  // none: to the trace's end

  // Rate scaling by k, after the window: every arrival is divided by k, so k = 2 replays the same
  // requests in half the time at twice the rate, with the same burst shape (bursts get shorter
  // and taller, not more frequent); k = 0.5 stretches it. Dividing arrivals keeps every request
  // and its order, so prefix reuse and conversation turns survive; the alternative, thinning or
  // duplicating requests, would change the workload, not just its pace.
  double rate_scale = 1.0;

  // Names given to requests: empty keeps what the trace has (BurstGPT names models; the others
  // none). A non-empty list replaces the trace's names.
  std::vector<WeightedName> models;
  std::vector<WeightedName> tenants;
  NameMapping mapping = NameMapping::kRandom;
  // The seed of kRandom's draws. Models and tenants draw from separate streams, so changing the
  // tenant list leaves every request's model as it was.
  uint64_t seed = 1;
};

// Applies window, rate scale and names, in that order. An invalid option, or a window holding no
// request, is an error that names the option and the trace's span.
Result<Trace> apply_trace_options(Trace trace, const TraceOptions& options);

}  // namespace gf
