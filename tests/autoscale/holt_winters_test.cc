// Holt-Winters on the shapes an autoscaler sees: steady load, ramps, daily-like cycles (here a
// 10-minute season at 1 s periods), noise without a cycle, on/off load, and a sudden change.
#include "autoscale/holt_winters.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/rng.h"

namespace gf {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

HoltWinters make(HoltWintersConfig config = {}) {
  auto hw = HoltWinters::create(config);
  EXPECT_TRUE(hw.ok()) << hw.error().describe();
  return std::move(hw).value();
}

// Low 5 for the first half of every 10-minute season, high 20 for the second, plus noise.
double square(int64_t t, Rng& rng) {
  const double base = (t % 600) < 300 ? 5.0 : 20.0;
  return base + (rng.uniform01() - 0.5) * 2.0;
}

HoltWintersConfig short_season(int horizon) {
  return HoltWintersConfig{.season = minutes(10), .horizon = horizon};
}

TEST(HoltWinters, ConstantSeriesForecastsTheConstantWithNoError) {
  HoltWinters hw = make();
  EXPECT_EQ(hw.forecast(10).mean, 0);  // nothing observed yet
  EXPECT_FALSE(hw.error().has_value());
  for (int i = 0; i < 600; ++i)
    hw.observe(12.5);
  for (int h : {0, 1, 60, 3600}) {
    const auto f = hw.forecast(h);
    EXPECT_NEAR(f.mean, 12.5, 1e-9) << h;
    EXPECT_NEAR(f.upper, 12.5, 1e-6) << h;
    EXPECT_NEAR(f.lower, 12.5, 1e-6) << h;
  }
  ASSERT_TRUE(hw.error().has_value());
  EXPECT_NEAR(*hw.error(), 0, 1e-9);
  EXPECT_FALSE(hw.seasonal());
  EXPECT_EQ(hw.observations(), 600);
}

TEST(HoltWinters, UndampedTrendFollowsALinearRampAhead) {
  HoltWinters hw = make({.phi = 1.0, .horizon = 30});
  double last = 0;
  for (int t = 0; t < 1000; ++t)
    hw.observe(last = 2 + 0.5 * t);
  EXPECT_NEAR(hw.forecast(30).mean, last + 15, 0.15);
  EXPECT_NEAR(hw.forecast(120).mean, last + 60, 0.6);
  EXPECT_LT(*hw.error(), 0.01);
}

TEST(HoltWinters, DefaultDampedTrendStillRisesAheadOnARamp) {
  HoltWinters hw = make();
  double last = 0;
  for (int t = 0; t < 1000; ++t)
    hw.observe(last = 2 + 0.5 * t);
  // Steady state of the defaults on a ramp of slope c: the trend settles at 0.91 c and the level
  // lags 0.8 c, so 30 periods ahead the forecast is ~26 c above the last value (30 c undamped).
  const double ahead = hw.forecast(30).mean - last;
  EXPECT_GT(ahead, 0.75 * 15);
  EXPECT_LT(ahead, 15);
  EXPECT_GT(hw.forecast(60).mean, hw.forecast(30).mean);
}

TEST(HoltWinters, DampedTrendStaysBoundedFarAhead) {
  HoltWinters hw = make();  // phi 0.998: at most 499 periods' worth of trend
  double last = 0;
  for (int t = 0; t < 500; ++t)
    hw.observe(last = 2.0 * t);
  const double far = hw.forecast(1'000'000).mean;
  EXPECT_TRUE(std::isfinite(far));
  EXPECT_GT(far, last);
  EXPECT_LT(far, last + 2.0 * 500);
  EXPECT_NEAR(far, hw.forecast(100'000).mean, 1e-6);  // converged: the trend has died out

  HoltWinters undamped = make({.phi = 1.0});
  for (int t = 0; t < 500; ++t)
    undamped.observe(2.0 * t);
  EXPECT_GT(undamped.forecast(1'000'000).mean, 1e6);  // what damping prevents
}

TEST(HoltWinters, SeasonalProfileRaisesTheForecastBeforeTheStep) {
  Rng rng(7);
  HoltWinters hw = make(short_season(30));
  HoltWinters plain = make({.season = Duration::zero(), .horizon = 30});
  int64_t t = 0;
  for (; t < 1199; ++t) {
    const double y = square(t, rng);
    hw.observe(y);
    plain.observe(y);
    EXPECT_FALSE(hw.seasonal()) << "seasonal before two whole seasons, at " << t;
  }
  // Two seasons and 280 s: 20 s before the load steps up from 5 to 20.
  for (; t < 1200 + 280; ++t) {
    const double y = square(t, rng);
    hw.observe(y);
    plain.observe(y);
  }
  ASSERT_TRUE(hw.seasonal());
  EXPECT_LT(hw.forecast(1).mean, 8);
  EXPECT_GT(hw.forecast(30).mean, 15) << "the step 20 s ahead is not foreseen";
  EXPECT_GT(hw.forecast(30).upper, hw.forecast(30).mean);
  EXPECT_LT(plain.forecast(30).mean, 8);  // without the profile, nothing is foreseen
  // And down again: 20 s before the load drops back to 5.
  for (; t < 1800 + 580; ++t)
    hw.observe(square(t, rng));
  EXPECT_GT(hw.forecast(1).mean, 17);
  EXPECT_LT(hw.forecast(30).mean, 8);
  ASSERT_TRUE(hw.error().has_value());
  EXPECT_LT(*hw.error(), 0.15);
}

TEST(HoltWinters, NoiseWithoutACycleKeepsSeasonalityOff) {
  Rng rng(11);
  for (int horizon : {1, 30}) {
    HoltWinters hw = make(short_season(horizon));
    for (int t = 0; t < 600 * 10; ++t) {
      hw.observe(10 + (rng.uniform01() - 0.5) * 10);
      ASSERT_FALSE(hw.seasonal()) << "at " << t << ", horizon " << horizon;
    }
    EXPECT_NEAR(hw.forecast(30).mean, 10, 1.5);
  }
}

TEST(HoltWinters, NoisyRampWithoutACycleKeepsSeasonalityOff) {
  Rng rng(12);
  HoltWinters hw = make(short_season(30));
  for (int t = 0; t < 600 * 6; ++t) {
    hw.observe(10 + 0.01 * t + (rng.uniform01() - 0.5) * 4);
    ASSERT_FALSE(hw.seasonal()) << "at " << t;
  }
}

TEST(HoltWinters, OnOffLoadNeverForecastsBelowZero) {
  HoltWinters hw = make({.horizon = 30});
  for (int t = 0; t < 1800; ++t) {
    hw.observe((t % 120) < 60 ? 10.0 : 0.0);
    for (int h : {0, 1, 10, 30, 600, 86'400}) {
      const auto f = hw.forecast(h);
      ASSERT_TRUE(std::isfinite(f.mean) && std::isfinite(f.upper) && std::isfinite(f.lower));
      ASSERT_GE(f.lower, 0) << t << " " << h;
      ASSERT_GE(f.mean, f.lower);
      ASSERT_GE(f.upper, f.mean);
    }
    if (auto e = hw.error()) {
      ASSERT_TRUE(std::isfinite(*e));
    }
  }
}

TEST(HoltWinters, OnOffCycleIsLearnedAsASeason) {
  HoltWinters hw = make({.season = minutes(2), .horizon = 30});
  for (int t = 0; t < 120 * 4 + 100; ++t)  // 20 s before the next "on"
    hw.observe((t % 120) < 60 ? 10.0 : 0.0);
  ASSERT_TRUE(hw.seasonal());
  EXPECT_LT(hw.forecast(1).mean, 1);
  EXPECT_GT(hw.forecast(30).mean, 8);
}

TEST(HoltWinters, AllZerosIsZeroWithoutNaN) {
  HoltWinters hw = make(short_season(5));
  for (int t = 0; t < 1500; ++t)
    hw.observe(0);
  const auto f = hw.forecast(10);
  EXPECT_EQ(f.mean, 0);
  EXPECT_EQ(f.upper, 0);
  EXPECT_EQ(f.lower, 0);
  ASSERT_TRUE(hw.error().has_value());
  EXPECT_EQ(*hw.error(), 0);
}

TEST(HoltWinters, ErrorRisesAfterASuddenRegimeChange) {
  Rng rng(3);
  HoltWinters hw = make({.horizon = 10});
  for (int t = 0; t < 1200; ++t)
    hw.observe(10 + (rng.uniform01() - 0.5));
  ASSERT_TRUE(hw.error().has_value());
  const double before = *hw.error();
  EXPECT_LT(before, 0.05);
  for (int t = 0; t < 20; ++t)
    hw.observe(40 + (rng.uniform01() - 0.5));
  const double after = *hw.error();
  EXPECT_GT(after, 0.1);
  EXPECT_GT(after, 3 * before);
  // The band widens with it.
  EXPECT_GT(hw.forecast(10).upper - hw.forecast(10).mean, 1.0);
}

TEST(HoltWinters, BandsWidenWithTheHorizonOnNoise) {
  Rng rng(5);
  HoltWinters hw = make({.horizon = 30});
  for (int t = 0; t < 2000; ++t)
    hw.observe(10 + (rng.uniform01() - 0.5) * 4);
  const auto near = hw.forecast(1);
  const auto far = hw.forecast(300);
  EXPECT_GT(near.upper, near.mean);
  EXPECT_GE(far.upper - far.mean, near.upper - near.mean);
  // One-step noise is uniform on +-2 (sd 1.15): a 95% band about +-2.3.
  EXPECT_NEAR(near.upper - near.mean, 2.3, 0.5);
}

TEST(HoltWinters, SetHorizonRestartsTheErrorTracking) {
  HoltWinters hw = make();
  for (int t = 0; t < 100; ++t)
    hw.observe(5);
  ASSERT_TRUE(hw.error().has_value());
  hw.set_horizon(20);
  EXPECT_EQ(hw.horizon(), 20);
  EXPECT_FALSE(hw.error().has_value());
  for (int t = 0; t < 29; ++t)
    hw.observe(5);
  EXPECT_FALSE(hw.error().has_value());  // 20 to wait, then 10 errors
  hw.observe(5);
  EXPECT_TRUE(hw.error().has_value());
  hw.set_horizon(0);
  EXPECT_EQ(hw.horizon(), 1);
  hw.set_horizon(1 << 30);
  EXPECT_EQ(hw.horizon(), HoltWinters::kMaxHorizon);
}

TEST(HoltWinters, MissingAndNegativeValuesKeepTheForecastSane) {
  HoltWinters hw = make(short_season(1));
  for (int t = 0; t < 100; ++t)
    hw.observe(8);
  hw.observe(std::nan(""));
  hw.observe(HUGE_VAL);
  hw.observe(-5);  // counts as 0
  const auto f = hw.forecast(1);
  EXPECT_TRUE(std::isfinite(f.mean));
  EXPECT_GT(f.mean, 5);
  EXPECT_EQ(hw.observations(), 103);
}

TEST(HoltWinters, DailySeasonIsKeptIn288Buckets) {
  // 86,400 periods a day in 288 buckets of 5 minutes: a profile learned from two days of a
  // morning peak foresees the peak.
  HoltWinters hw = make({.horizon = 600});
  auto load = [](int64_t t) {
    const int64_t s = t % 86'400;
    return (s >= 9 * 3600 && s < 17 * 3600) ? 50.0 : 10.0;
  };
  int64_t t = 0;
  for (; t < 2 * 86'400 + 9 * 3600 - 900; ++t)  // the third day, 15 minutes before 9:00
    hw.observe(load(t));
  ASSERT_TRUE(hw.seasonal());
  EXPECT_LT(hw.forecast(1).mean, 12);
  EXPECT_GT(hw.forecast(1200).mean, 45);
}

struct BadConfig {
  const char* field;
  HoltWintersConfig config;
};

TEST(HoltWinters, BadConfigNamesTheField) {
  const BadConfig cases[] = {
      {"alpha", {.alpha = 0}},
      {"alpha", {.alpha = 1.5}},
      {"alpha", {.alpha = std::nan("")}},
      {"beta", {.beta = -0.1}},
      {"gamma", {.gamma = 0}},
      {"phi", {.phi = 1.01}},
      {"period", {.period = Duration::zero()}},
      {"season", {.season = seconds(-1)}},
      {"season", {.period = seconds(7), .season = minutes(1)}},
      {"season", {.season = seconds(1)}},
      {"max_season_buckets", {.max_season_buckets = 1}},
      {"error_window", {.error_window = std::chrono::milliseconds(500)}},
      {"horizon", {.horizon = 0}},
      {"horizon", {.horizon = HoltWinters::kMaxHorizon + 1}},
  };
  for (const auto& c : cases) {
    auto hw = HoltWinters::create(c.config);
    ASSERT_FALSE(hw.ok()) << c.field;
    EXPECT_EQ(hw.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(hw.error().message.find(std::string("HoltWintersConfig.") + c.field),
              std::string::npos)
        << hw.error().message;
  }
  EXPECT_TRUE(HoltWinters::create({.season = Duration::zero()}).ok());  // seasonality off
  EXPECT_TRUE(HoltWinters::create({.beta = 0, .phi = 1}).ok());
}

}  // namespace
}  // namespace gf
