// Random configs fed random regimes (steady, ramps, noise, zeros, spikes, on/off, missing and
// negative values), seeded: every forecast is finite and 0 <= lower <= mean <= upper, and the
// error is finite and within [0, 2].
#include <gtest/gtest.h>

#include <cmath>

#include "autoscale/holt_winters.h"
#include "common/rng.h"

namespace gf {
namespace {

using std::chrono::seconds;

HoltWintersConfig random_config(Rng& rng) {
  HoltWintersConfig c;
  c.alpha = 0.01 + 0.99 * rng.uniform01();
  c.beta = rng.uniform01();
  c.gamma = 0.01 + 0.99 * rng.uniform01();
  c.phi = 0.5 + 0.5 * rng.uniform01();
  if (rng.uniform_below(4) == 0) c.phi = 1.0;
  c.period = seconds(1);
  c.season = rng.uniform_below(3) == 0 ? Duration::zero() : seconds(rng.uniform_int(2, 80));
  c.max_season_buckets = static_cast<int>(rng.uniform_int(2, 300));
  c.error_window = seconds(rng.uniform_int(1, 100));
  c.horizon = static_cast<int>(rng.uniform_int(1, 40));
  return c;
}

// One value of a regime that lasts a random number of periods.
struct Regime {
  int kind = 0;
  double base = 0;
  double slope = 0;
  int left = 0;
};

double next_value(Regime& r, int64_t t, Rng& rng) {
  if (r.left-- <= 0) {
    r = Regime{static_cast<int>(rng.uniform_below(8)), rng.uniform01() * 100,
               (rng.uniform01() - 0.5) * 10, static_cast<int>(rng.uniform_int(1, 200))};
  }
  switch (r.kind) {
    case 0:
      return r.base;
    case 1:
      return r.base + r.slope * (200 - r.left);  // ramps, down into negatives too
    case 2:
      return r.base * rng.uniform01() * 2;
    case 3:
      return 0;
    case 4:
      return rng.uniform_below(10) == 0 ? 1e12 : r.base;  // spikes
    case 5:
      return (t / 7) % 2 == 0 ? r.base : 0;  // on/off
    case 6:
      return rng.uniform_below(5) == 0 ? std::nan("") : r.base;
    default:
      return -r.base;
  }
}

void check(const HoltWinters& hw, int h, uint64_t seed, int64_t t) {
  const auto f = hw.forecast(h);
  ASSERT_TRUE(std::isfinite(f.mean) && std::isfinite(f.upper) && std::isfinite(f.lower))
      << "seed " << seed << " t " << t << " h " << h;
  ASSERT_GE(f.lower, 0) << "seed " << seed << " t " << t << " h " << h;
  ASSERT_GE(f.mean, f.lower) << "seed " << seed << " t " << t << " h " << h;
  ASSERT_GE(f.upper, f.mean) << "seed " << seed << " t " << t << " h " << h;
}

TEST(HoltWintersProperty, ForecastsAreFiniteNonNegativeAndOrdered) {
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    Rng rng(seed);
    auto created = HoltWinters::create(random_config(rng));
    ASSERT_TRUE(created.ok()) << "seed " << seed << ": " << created.error().describe();
    HoltWinters hw = std::move(created).value();
    Regime regime;
    for (int64_t t = 0; t < 2000; ++t) {
      hw.observe(next_value(regime, t, rng));
      if (rng.uniform_below(500) == 0) hw.set_horizon(static_cast<int>(rng.uniform_int(-5, 100)));
      for (int h : {0, 1, hw.horizon(), static_cast<int>(rng.uniform_int(0, 1'000'000))}) {
        check(hw, h, seed, t);
        if (testing::Test::HasFatalFailure()) return;
      }
      if (auto e = hw.error()) {
        ASSERT_TRUE(std::isfinite(*e)) << "seed " << seed << " t " << t;
        ASSERT_GE(*e, 0);
        ASSERT_LE(*e, 2);
      }
    }
    EXPECT_EQ(hw.observations(), 2000);
  }
}

}  // namespace
}  // namespace gf
