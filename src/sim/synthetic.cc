#include "sim/synthetic.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "common/rng.h"

namespace gf {

namespace {

Error invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

bool is_rate(double r) {
  return r >= 0 && std::isfinite(r);
}

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

double peak_rate(const ArrivalPattern& p) {
  return std::visit(Overloaded{
                        [](const PoissonArrivals& a) { return a.rps; },
                        [](const DiurnalArrivals& a) { return a.mean_rps * (1 + a.amplitude); },
                        [](const BurstArrivals& a) { return std::max(a.on_rps, a.off_rps); },
                        [](const StepArrivals& a) { return std::max(a.before_rps, a.after_rps); },
                    },
                    p);
}

Status check(const ArrivalPattern& p) {
  return std::visit(
      Overloaded{
          [](const PoissonArrivals& a) -> Status {
            if (!is_rate(a.rps)) return invalid(fmt::format("poisson rps {}: must be >= 0", a.rps));
            return {};
          },
          [](const DiurnalArrivals& a) -> Status {
            if (!is_rate(a.mean_rps))
              return invalid(fmt::format("diurnal mean_rps {}: must be >= 0", a.mean_rps));
            if (!(a.amplitude >= 0 && a.amplitude <= 1))
              return invalid(
                  fmt::format("diurnal amplitude {}: must be in [0, 1] (a rate cannot go below 0)",
                              a.amplitude));
            if (a.period <= Duration::zero())
              return invalid(
                  fmt::format("diurnal period {}: must be positive", format_duration(a.period)));
            return {};
          },
          [](const BurstArrivals& a) -> Status {
            if (!is_rate(a.on_rps) || !is_rate(a.off_rps))
              return invalid(
                  fmt::format("bursts on_rps {} / off_rps {}: must be >= 0", a.on_rps, a.off_rps));
            if (a.on <= Duration::zero() || a.off < Duration::zero())
              return invalid(fmt::format("bursts on {} / off {}: on must be positive, off >= 0",
                                         format_duration(a.on), format_duration(a.off)));
            return {};
          },
          [](const StepArrivals& a) -> Status {
            if (!is_rate(a.before_rps) || !is_rate(a.after_rps))
              return invalid(fmt::format("step before_rps {} / after_rps {}: must be >= 0",
                                         a.before_rps, a.after_rps));
            return {};
          },
      },
      p);
}

// A standard normal draw by Marsaglia's polar method: it needs only log and sqrt (sqrt is exact
// in IEEE arithmetic, and log is what Rng::exponential already relies on), unlike Box-Muller's
// sin and cos, whose last bits differ more between C libraries.
double standard_normal(Rng& rng) {
  while (true) {
    const double u = 2 * rng.uniform01() - 1;
    const double v = 2 * rng.uniform01() - 1;
    const double s = u * u + v * v;
    if (s > 0 && s < 1) return u * std::sqrt(-2 * std::log(s) / s);
  }
}

// A lognormal with the given mean: mu = ln(mean) - sigma²/2 makes E[X] = mean.
Tokens lognormal_tokens(Rng& rng, Tokens mean, double sigma, Tokens max) {
  const double mu = std::log(static_cast<double>(mean.value)) - sigma * sigma / 2;
  const double x = std::exp(mu + sigma * standard_normal(rng));
  const double clamped = std::clamp(std::round(x), 1.0, static_cast<double>(max.value));
  return Tokens(static_cast<int64_t>(clamped));
}

Status check(const SizeModel& m) {
  if (const auto* l = std::get_if<LognormalSizes>(&m)) {
    if (l->prompt_mean.value < 1 || l->output_mean.value < 1)
      return invalid("lognormal sizes: prompt_mean and output_mean must be at least 1 token");
    if (!(l->prompt_sigma >= 0) || !(l->output_sigma >= 0) || !std::isfinite(l->prompt_sigma) ||
        !std::isfinite(l->output_sigma))
      return invalid("lognormal sizes: sigmas must be >= 0");
    if (l->max_prompt.value < 1 || l->max_output.value < 1)
      return invalid("lognormal sizes: max_prompt and max_output must be at least 1 token");
    return {};
  }
  const auto& s = std::get<SampledSizes>(m);
  if (s.pairs.empty()) return invalid("sampled sizes: no (prompt, output) pair to sample from");
  for (const auto& [p, o] : s.pairs)
    if (p.value < 1 || o.value < 1)
      return invalid("sampled sizes: every pair needs at least 1 prompt and 1 output token");
  return {};
}

}  // namespace

double rate_at(const ArrivalPattern& pattern, Duration t) {
  return std::visit(
      Overloaded{
          [](const PoissonArrivals& a) { return a.rps; },
          [t](const DiurnalArrivals& a) {
            const double angle = 2 * std::numbers::pi * seconds(t + a.phase) / seconds(a.period);
            return std::max(0.0, a.mean_rps * (1 + a.amplitude * std::sin(angle)));
          },
          [t](const BurstArrivals& a) {
            const Duration cycle = a.on + a.off;
            return t % cycle < a.on ? a.on_rps : a.off_rps;
          },
          [t](const StepArrivals& a) { return t < a.at ? a.before_rps : a.after_rps; },
      },
      pattern);
}

SampledSizes SampledSizes::from(const Trace& trace) {
  SampledSizes s;
  s.pairs.reserve(trace.requests.size());
  for (const TraceRequest& r : trace.requests)
    s.pairs.emplace_back(r.prompt, r.output);
  return s;
}

Result<Trace> generate_trace(const SyntheticSpec& spec) {
  if (auto st = check(spec.arrivals); !st) return st.error();
  if (auto st = check(spec.sizes); !st) return st.error();
  if (spec.length <= Duration::zero())
    return invalid(fmt::format("length {}: must be positive", format_duration(spec.length)));

  Trace trace;
  trace.name = spec.name;
  const double peak = peak_rate(spec.arrivals);
  if (peak <= 0) return trace;

  // Arrivals and sizes draw from separate streams, so changing the size model leaves the arrival
  // times as they were.
  Rng arrivals(spec.seed);
  Rng sizes(spec.seed + 1);
  const double length_s = seconds(spec.length);
  double t = 0;
  while (true) {
    t += arrivals.exponential(1.0 / peak);
    if (t >= length_s) break;
    const Duration at = Duration(std::llround(t * 1e9));
    const double keep = rate_at(spec.arrivals, at) / peak;
    if (keep < 1 && arrivals.uniform01() >= keep) continue;
    TraceRequest r;
    r.arrival = at;
    if (const auto* l = std::get_if<LognormalSizes>(&spec.sizes)) {
      r.prompt = lognormal_tokens(sizes, l->prompt_mean, l->prompt_sigma, l->max_prompt);
      r.output = lognormal_tokens(sizes, l->output_mean, l->output_sigma, l->max_output);
    } else {
      const auto& pairs = std::get<SampledSizes>(spec.sizes).pairs;
      const auto& [p, o] = pairs[sizes.uniform_below(pairs.size())];
      r.prompt = p;
      r.output = o;
    }
    trace.requests.push_back(std::move(r));
  }
  return trace;
}

}  // namespace gf
