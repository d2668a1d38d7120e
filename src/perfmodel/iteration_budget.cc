#include "perfmodel/iteration_budget.h"

#include <algorithm>

#include "perfmodel/deployment_perf.h"

namespace gf {

double budget_iteration_ms(const PerfModel& perf, Duration tpot, const BudgetLoad& load,
                           int64_t m) {
  const PerfCoefficients& c = perf.coefficients();
  const double p = static_cast<double>(std::max<int64_t>(load.prompt.value, 1));
  const double o = static_cast<double>(std::max<int64_t>(load.output.value, 1));
  const double chunk = static_cast<double>(std::max<int64_t>(m, 0));
  // Little's law at the target: a replica at `rps` keeps this many sequences decoding when each
  // token takes the whole TPOT budget (the most it may take, so the most sequences it may hold).
  const double batch =
      std::min(load.rps * (o - 1) * to_ms(tpot) / 1000, static_cast<double>(PerfModel::kMaxBatch));
  const double context = batch * (p + o / 2);
  // Attention of the chunk: the last `chunk` tokens of a prompt (end^2 - start^2), or, when
  // whole prompts fit, prompts of the mean size filling it (chunk / p of them, p^2 each).
  const double attention = chunk <= p ? p * p - (p - chunk) * (p - chunk) : chunk * p;
  return c.mixed_ms(chunk, attention, batch, context);
}

Tokens slo_iteration_budget(const PerfModel& perf, Duration tpot, const BudgetLoad& load,
                            Tokens ceiling) {
  const int64_t top = std::max(ceiling.value, kMinBudget);
  const double limit = to_ms(tpot);
  const auto fits = [&](int64_t m) { return budget_iteration_ms(perf, tpot, load, m) <= limit; };
  if (!fits(kMinBudget)) return Tokens(kMinBudget);
  // The cost grows with the chunk (every coefficient is >= 0), so bisect on whole blocks.
  int64_t lo = kMinBudget / kBudgetStep, hi = top / kBudgetStep + 1;  // fits(lo), maybe not hi
  if (fits(top)) return Tokens(top);
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (fits(mid * kBudgetStep) ? lo : hi) = mid;
  }
  return Tokens(lo * kBudgetStep);
}

std::optional<Tokens> engine_iteration_budget(const DeploymentSpec& d, const std::string& gpu) {
  const auto& spec = d.engine.max_batched_tokens;
  if (!spec) return std::nullopt;
  if (!spec->automatic) return spec->tokens;
  auto perf = deployment_perf_model(d, gpu);
  if (!perf) return std::nullopt;
  const auto target = [&](const std::optional<Duration>& own,
                          std::optional<Duration> AutoscalingSpec::*slo, Duration fallback) {
    if (own) return *own;
    if (d.autoscaling && (*d.autoscaling).*slo) return *((*d.autoscaling).*slo);
    return fallback;
  };
  const SloTarget slo{target(spec->ttft, &AutoscalingSpec::slo_ttft, SloTarget{}.ttft),
                      target(spec->tpot, &AutoscalingSpec::slo_tpot, SloTarget{}.tpot)};
  // One replica's capacity for these requests within the targets (replica_capacity.h's rate).
  const double rps = std::max(0.0, perf->sustainable_rps(slo, spec->prompt, spec->output));
  return slo_iteration_budget(*perf, slo.tpot, BudgetLoad{spec->prompt, spec->output, rps},
                              PerfModel::default_max_batched_tokens(perf->gpu()));
}

}  // namespace gf
