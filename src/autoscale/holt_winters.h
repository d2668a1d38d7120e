// Holt-Winters forecaster of a series observed once per control period (a model's arrival rate,
// say): damped additive trend, plus an additive seasonal profile kept at bucket resolution and
// used only once the history shows that it helps. Formulas and defaults: docs/autoscaling.md,
// "Forecasting".
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/result.h"
#include "common/units.h"

namespace gf {

struct HoltWintersConfig {
  // Smoothing weights, per period (so they depend on `period`: see docs/autoscaling.md).
  double alpha = 0.1;  // level: the last ~10 periods
  double beta = 0.02;  // trend: the last ~50 level changes
  double gamma = 0.2;  // seasonal profile, per season: the last ~5 seasons
  double phi = 0.998;  // trend damping: at most phi / (1 - phi) = 499 periods of trend ahead
  Duration period = std::chrono::seconds(1);
  // 0 turns seasonality off. Otherwise a whole number of periods, at least 2.
  Duration season = std::chrono::hours(24);
  int max_season_buckets = 288;  // a daily season in 5-minute buckets
  // How far back error() and the forecast bands look (an exponentially weighted mean).
  Duration error_window = std::chrono::minutes(5);
  int horizon = 1;  // periods ahead whose error is tracked (set_horizon changes it)
};

class HoltWinters {
 public:
  // The longest horizon whose error can be tracked: the forecasts awaiting comparison are kept.
  static constexpr int kMaxHorizon = 1 << 16;

  // An invalid config is an error naming the field.
  static Result<HoltWinters> create(const HoltWintersConfig& config);

  // One value per period, in order. Negative values count as 0 (rates are not negative); a NaN or
  // infinite value counts as a missing one and is replaced by the one-step forecast, so the
  // seasonal phase stays in step.
  void observe(double value);

  struct Forecast {
    double mean = 0;
    double upper = 0;  // ~95% band from the recent errors; equal to mean until error() has a value
    double lower = 0;
  };
  // The value `periods_ahead` periods after the last observed one (0: the smoothed last value).
  // Never negative, never NaN; 0 before the first observation.
  Forecast forecast(int periods_ahead) const;

  // Whether forecasts use the seasonal profile: after two seasons (one to learn the profile, one
  // to judge it), while the profile's forecasts at the tracked horizon have clearly smaller
  // squared error than the same model without it.
  bool seasonal() const { return seasonal_on_; }

  // Recent error of the forecasts made `horizon` periods ahead against what then happened: the
  // weighted mean absolute error over the mean of the actual and forecast values (so 0 is exact
  // and 2 the worst; it is ~MAE / level when forecasts are good). nullopt until 10 errors exist.
  std::optional<double> error() const;

  // Tracks the error at `periods` ahead from now on (clamped to [1, kMaxHorizon]); the errors
  // measured at the previous horizon are dropped.
  void set_horizon(int periods);
  int horizon() const { return horizon_; }

  int observations() const { return static_cast<int>(n_); }

 private:
  // Holt's damped trend over a series; the seasonal model runs it on the deseasonalised values.
  struct Smoother {
    double level = 0;
    double trend = 0;
  };
  // Exponentially weighted mean that is the plain mean until it has 1 / weight samples, so early
  // values are not biased towards the zero it starts from.
  struct Mean {
    double value = 0;
    int64_t n = 0;
    void add(double x, double min_weight);
  };
  // The errors of one model's forecasts.
  struct Errors {
    double last_one_step = 0;  // the one-step forecast made at the last observation
    Mean one_step_sq;          // squared error one period ahead
    Mean horizon_sq;           // squared error `horizon` periods ahead
    Mean horizon_abs;          // absolute error `horizon` periods ahead
    Mean horizon_actual;       // what happened, for normalising
    Mean horizon_forecast;     // what was forecast, for normalising
    Mean judge_sq;             // squared error `horizon` ahead over about a season: the gate
  };
  enum Model { kPlain = 0, kSeasonal = 1 };

  explicit HoltWinters(const HoltWintersConfig& config);

  double point(Model m, int periods_ahead) const;
  double damped_sum(int periods_ahead) const;
  double seasonal_at(int64_t period_index) const;
  int bucket_of(int64_t period_index) const;
  int64_t bucket_count(int bucket) const;
  int models() const { return season_periods_ > 0 ? 2 : 1; }
  Model active() const { return seasonal_on_ ? kSeasonal : kPlain; }
  void smooth(Smoother& s, double value) const;
  void track_errors(double value);
  void end_season();
  void judge();

  HoltWintersConfig config_;
  double error_weight_ = 0;     // per period, from error_window
  int64_t season_periods_ = 0;  // 0: no seasonality
  int64_t bucket_periods_ = 1;
  int horizon_ = 1;
  double horizon_damped_sum_ = 0;

  int64_t n_ = 0;  // observations so far; the next one has period index n_
  Smoother model_[2];
  Errors errors_[2];
  // The forecasts made `horizon` periods ago, by period index modulo horizon: {plain, seasonal}.
  std::vector<double> pending_[2];
  int64_t pending_since_ = 0;  // period index of the first forecast kept at this horizon

  std::vector<double> profile_;     // seasonal offset per bucket; zero mean
  std::vector<double> bucket_sum_;  // this season's sum of values per bucket
  int seasons_ = 0;                 // whole seasons observed
  double last_season_mean_ = 0;
  bool seasonal_on_ = false;
};

}  // namespace gf
