// The forecasters' cost per control period: one observe() and one forecast() (what the
// autoscaler pays per model each period).
//
//   BM_HoltWinters/daily      24 h season at 1 s periods (288 buckets), warmed with two days and
//                             two hours of a daily cycle with an office-hours step, so the
//                             seasonal profile is on; horizon 60. The value at a season's end also
//                             pays the profile update (288 buckets once per 86,400 periods).
//   BM_HoltWinters/no_season  the same series, seasonality off: the damped-trend model alone.
//   BM_LinearTrend/<N>        mean + least-squares trend over the last N periods (O(N) forecast).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <vector>

#include "autoscale/holt_winters.h"
#include "autoscale/linear_trend.h"
#include "common/rng.h"

namespace {

using namespace gf;

constexpr int64_t kDay = 86'400;

// Requests per second over a day: a daily sine between 5 and 45, 20 more from 9:00 to 17:00, and
// uniform noise, repeated. (A smooth sine alone needs no profile 60 s ahead: the trend follows it,
// and the gate rightly leaves seasonality off.)
const std::vector<double>& series() {
  static const std::vector<double> values = [] {
    std::vector<double> v(static_cast<size_t>(kDay));
    Rng rng(2026);
    for (int64_t t = 0; t < kDay; ++t) {
      const double phase = 2 * M_PI * static_cast<double>(t) / kDay;
      const double office = (t >= 9 * 3600 && t < 17 * 3600) ? 20 : 0;
      v[static_cast<size_t>(t)] = 25 + 20 * std::sin(phase) + office + (rng.uniform01() - 0.5) * 8;
    }
    return v;
  }();
  return values;
}

void BM_HoltWinters(benchmark::State& state, Duration season) {
  const auto& v = series();
  auto hw = *HoltWinters::create({.season = season, .horizon = 60});
  int64_t t = 0;
  for (; t < 2 * kDay + 7200; ++t)
    hw.observe(v[static_cast<size_t>(t % kDay)]);
  for (auto _ : state) {
    hw.observe(v[static_cast<size_t>(t++ % kDay)]);
    benchmark::DoNotOptimize(hw.forecast(60));
  }
  state.counters["seasonal"] = hw.seasonal() ? 1 : 0;
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_HoltWinters, daily, Duration(std::chrono::hours(24)));
BENCHMARK_CAPTURE(BM_HoltWinters, no_season, Duration::zero());

void BM_LinearTrend(benchmark::State& state) {
  const auto& v = series();
  auto lt = *LinearTrend::create({.window = std::chrono::seconds(state.range(0))});
  int64_t t = 0;
  for (; t < state.range(0); ++t)
    lt.observe(v[static_cast<size_t>(t)]);
  for (auto _ : state) {
    lt.observe(v[static_cast<size_t>(t++ % kDay)]);
    benchmark::DoNotOptimize(lt.forecast(60));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LinearTrend)->Arg(60)->Arg(300);

}  // namespace
