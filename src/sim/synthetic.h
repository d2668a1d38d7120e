// Synthetic request traces for `gpufleet sim`: arrivals from a rate that is constant, daily,
// bursty or stepped, and request sizes from a fitted lognormal or resampled from a real trace.
// Seeded and portable: the same spec gives the same trace on every platform.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "common/units.h"
#include "sim/trace.h"

namespace gf {

// Requests per second, constant: a Poisson process.
struct PoissonArrivals {
  double rps = 1;
};

// A day's swing: rate(t) = mean_rps * (1 + amplitude * sin(2π (t + phase) / period)), with
// amplitude in [0, 1] (1 touches zero at the trough). phase 0 starts at the mean, rising.
struct DiurnalArrivals {
  double mean_rps = 1;
  double amplitude = 0.5;
  Duration period = std::chrono::hours(24);
  Duration phase{0};
};

// On/off bursts: on_rps for `on`, then off_rps for `off`, repeating, starting with a burst.
struct BurstArrivals {
  double on_rps = 10;
  double off_rps = 1;
  Duration on = std::chrono::seconds(10);
  Duration off = std::chrono::seconds(50);
};

// A step: before_rps until `at`, after_rps from then on.
struct StepArrivals {
  double before_rps = 1;
  double after_rps = 2;
  Duration at = std::chrono::minutes(5);
};

using ArrivalPattern = std::variant<PoissonArrivals, DiurnalArrivals, BurstArrivals, StepArrivals>;

// The request rate a pattern gives at time t (since the trace's start), per second.
double rate_at(const ArrivalPattern& pattern, Duration t);

// Prompt and output tokens drawn independently from lognormals with the given means and log-space
// spreads (sigma): LLM request sizes are right-skewed with a long tail, which a lognormal fits
// with two numbers (the Azure conversation trace: prompt mean 1155 with a log-space sigma of 0.99,
// output mean 211 with 0.86). Draws are rounded and clamped to [1, max].
struct LognormalSizes {
  Tokens prompt_mean{1024};
  double prompt_sigma = 1.0;
  Tokens output_mean{256};
  double output_sigma = 1.0;
  Tokens max_prompt{128 * 1024};
  Tokens max_output{8 * 1024};
};

// (prompt, output) pairs drawn uniformly, with replacement, from a real trace's requests: keeps
// the trace's joint distribution (long prompts with short answers and so on) exactly. Prefix
// blocks are not copied: a resampled request repeats its source's prefix only by accident, so
// copying them would invent cache hits.
struct SampledSizes {
  std::vector<std::pair<Tokens, Tokens>> pairs;
  static SampledSizes from(const Trace& trace);
};

using SizeModel = std::variant<LognormalSizes, SampledSizes>;

struct SyntheticSpec {
  std::string name = "synthetic";
  ArrivalPattern arrivals = PoissonArrivals{};
  SizeModel sizes = LognormalSizes{};
  Duration length = std::chrono::minutes(10);  // arrivals in [0, length)
  uint64_t seed = 1;
};

// Arrivals are a non-homogeneous Poisson process drawn by thinning (Lewis and Shedler 1979):
// candidates at the pattern's peak rate, each kept with probability rate(t) / peak. Exact for
// every pattern, and one code path for all. An invalid spec (a negative rate, amplitude outside
// [0, 1], an empty sample ...) is an error naming the field.
Result<Trace> generate_trace(const SyntheticSpec& spec);

}  // namespace gf
