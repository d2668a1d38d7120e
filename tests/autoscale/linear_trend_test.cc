// The threshold rule's predictor: mean plus least-squares trend over the last N observations.
#include "autoscale/linear_trend.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/rng.h"

namespace gf {
namespace {

using std::chrono::seconds;

LinearTrend make(Duration window) {
  auto lt = LinearTrend::create({.window = window});
  EXPECT_TRUE(lt.ok()) << lt.error().describe();
  return std::move(lt).value();
}

TEST(LinearTrend, ConstantIsTheConstant) {
  LinearTrend lt = make(seconds(10));
  EXPECT_EQ(lt.forecast(5), 0);
  lt.observe(7);
  EXPECT_EQ(lt.forecast(5), 7);  // one point: no trend yet
  for (int i = 0; i < 30; ++i)
    lt.observe(7);
  EXPECT_DOUBLE_EQ(lt.forecast(0), 7);
  EXPECT_DOUBLE_EQ(lt.forecast(100), 7);
  EXPECT_EQ(lt.window(), 10);
  EXPECT_EQ(lt.observations(), 31);
}

TEST(LinearTrend, ExtrapolatesALineFromItsLastPoint) {
  LinearTrend lt = make(seconds(10));
  for (int t = 0; t < 4; ++t)  // fewer than the window: the line through what there is
    lt.observe(3 + 2.0 * t);
  EXPECT_NEAR(lt.forecast(0), 9, 1e-9);
  EXPECT_NEAR(lt.forecast(5), 19, 1e-9);
  for (int t = 4; t < 50; ++t)
    lt.observe(3 + 2.0 * t);
  EXPECT_NEAR(lt.forecast(0), 101, 1e-9);
  EXPECT_NEAR(lt.forecast(30), 161, 1e-9);
}

TEST(LinearTrend, ForgetsWhatLeftTheWindowAndClampsAtZero) {
  LinearTrend lt = make(seconds(5));
  for (int t = 0; t < 20; ++t)
    lt.observe(1000);
  for (int t = 0; t < 5; ++t)
    lt.observe(50 - 10.0 * t);  // the window now holds only the falling line 50 .. 10
  EXPECT_NEAR(lt.forecast(0), 10, 1e-9);
  EXPECT_NEAR(lt.forecast(1), 0, 1e-9);
  EXPECT_EQ(lt.forecast(10), 0);  // the line is below zero there
}

TEST(LinearTrend, SkipsMissingAndClampsNegativeValues) {
  LinearTrend lt = make(seconds(4));
  for (double v : {4.0, std::nan(""), 4.0, HUGE_VAL, 4.0, -3.0})
    lt.observe(v);
  EXPECT_EQ(lt.observations(), 4);
  EXPECT_TRUE(std::isfinite(lt.forecast(3)));
  EXPECT_GE(lt.forecast(3), 0);
}

TEST(LinearTrend, RandomSeriesGiveFiniteNonNegativeForecasts) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Rng rng(seed);
    LinearTrend lt = make(seconds(rng.uniform_int(2, 120)));
    for (int t = 0; t < 1000; ++t) {
      lt.observe(rng.uniform_below(20) == 0 ? 1e13 : rng.uniform01() * 100);
      const double f = lt.forecast(static_cast<int>(rng.uniform_int(0, 100'000)));
      ASSERT_TRUE(std::isfinite(f)) << seed;
      ASSERT_GE(f, 0) << seed;
    }
  }
}

TEST(LinearTrend, BadConfigNamesTheField) {
  auto period = LinearTrend::create({.period = Duration::zero()});
  ASSERT_FALSE(period.ok());
  EXPECT_NE(period.error().message.find("LinearTrendConfig.period"), std::string::npos);
  for (Duration window :
       {Duration(seconds(1)), Duration::zero(), Duration(std::chrono::milliseconds(1500))}) {
    auto lt = LinearTrend::create({.window = window});
    ASSERT_FALSE(lt.ok());
    EXPECT_NE(lt.error().message.find("LinearTrendConfig.window"), std::string::npos);
  }
}

}  // namespace
}  // namespace gf
