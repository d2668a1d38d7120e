#include "autoscale/dynamo_sla_policy.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/traffic_report.h"
#include "perfmodel/replica_capacity.h"
#include "perfmodel/token_rates.h"

namespace gf {
Recommendation DynamoSlaPolicy::recommend(const PolicyInput& in) {
  Recommendation r;
  r.replicas = in.current;
  if (!first_) first_ = in.now;
  if (in.now - *first_ < kStartDelay) {
    r.rule = "start delay";
    r.reason = "the planner waits 30s before its first adjustment";
    return r;
  }
  if (last_ && in.now - *last_ < kAdjustmentInterval) {
    r.rule = "between adjustments";
    r.reason = "the planner adjusts every 180s";
    return r;
  }
  last_ = in.now;
  if (!in.perf) {
    r.rule = "no profile";
    r.reason = "no latency profile for " + in.gpu_model + ": holding";
    return r;
  }
  const PerfModel& pm = *in.perf;
  const AutoscalingSpec& a = in.spec;
  const auto mean = [&](auto f) {
    return in.history.mean(kAdjustmentInterval, in.now, f).value_or(0);
  };
  // The constant predictor: the next interval looks like the last one.
  const double rate = mean([](const LoadSample& s) { return s.arrival_rps; });
  if (rate <= 0) {
    r.replicas = 0;  // DeploymentScaler keeps the minimum (and one, unless idle long enough)
    r.rule = "no load";
    r.reason = "no requests in the last interval";
    return r;
  }
  const double isl = std::max(1.0, mean([](const LoadSample& s) { return s.prompt_tps; }) / rate);
  const double osl = std::max(1.0, mean([](const LoadSample& s) { return s.output_tps; }) / rate);
  const SloTarget slo = slo_of(a);
  const Tokens prompt(static_cast<int64_t>(isl));
  const double ctx = isl + osl / 2;

  // Corrections: observed over expected latency, from the interval's answers.
  const WindowLatency w = in.history.latency(kAdjustmentInterval, in.now);
  const double expected_ttft = to_ms(pm.prefill_time(prompt));
  const double batch =
      std::max(1.0, in.history.last()->in_flight / std::max(1, in.history.last()->ready));
  const int b = static_cast<int>(batch);
  const double expected_itl =
      to_ms(pm.decode_iteration_time(b, Tokens(static_cast<int64_t>(b * ctx))));
  double prefill_correction = 1, decode_correction = 1;
  if (w.answers > 0 && expected_ttft > 0)
    prefill_correction = std::max(0.01, ttft_p95_interpolated_ms(w.ttft) / expected_ttft);
  if (w.answers > 0 && expected_itl > 0 && tpot_p95_interpolated_ms(w.tpot) > 0)
    decode_correction = std::max(0.01, tpot_p95_interpolated_ms(w.tpot) / expected_itl);

  // Prefill at the profile's throughput for this ISL; decode at the best batched throughput whose
  // iteration stays under the corrected ITL target.
  const double itl = to_ms(slo.tpot) / decode_correction;
  const TokenRates rates = token_rates(pm, isl, osl, FractionalMs(itl));
  const double prefill_load = rate * isl * std::min(1.0, prefill_correction);
  const double decode_load = rate * osl;
  const double share = rates.replicas(prefill_load, decode_load);
  r.replicas = std::max(1, static_cast<int>(std::ceil(share - 1e-9)));
  r.rule = "sla";
  r.reason = fmt::format(
      "{:.2f} req/s x ISL {:.0f} / {:.0f} prefill tok/s (correction {:.2f}) + x OSL {:.0f} / "
      "{:.0f} decode tok/s at ITL {:.0f} ms (correction {:.2f}) = {:.2f} replicas",
      rate, isl, rates.prefill_tps, prefill_correction, osl, rates.decode_tps, itl,
      decode_correction, share);
  return r;
}

}  // namespace gf
