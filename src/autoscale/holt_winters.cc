#include "autoscale/holt_winters.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace gf {

namespace {

// Larger inputs are clamped so that squared errors stay finite (1e30 < DBL_MAX).
constexpr double kMaxValue = 1e15;
// error() and the bands need this many measured errors: the mean of fewer says little.
constexpr int64_t kMinErrors = 10;
// The gate: the seasonal model must cut the squared error at the horizon by 10% to be turned on
// (noise alone makes a learned profile slightly worse, never 10% better), and is turned off only
// when it no longer helps at all, so that it does not flap near the threshold.
constexpr double kSeasonalOn = 0.9;
constexpr double kSeasonalOff = 1.0;
// Two-sided 95% band of a normal error.
constexpr double kZ95 = 1.959964;

Error invalid(const char* field, const std::string& rule) {
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("HoltWintersConfig.{} {}", field, rule));
}

bool in_unit(double x, bool zero_ok) {
  return (zero_ok ? x >= 0 : x > 0) && x <= 1;  // false for NaN
}

}  // namespace

void HoltWinters::Mean::add(double x, double min_weight) {
  ++n;
  const double w = std::max(1.0 / static_cast<double>(n), min_weight);
  value += w * (x - value);
}

Result<HoltWinters> HoltWinters::create(const HoltWintersConfig& c) {
  if (!in_unit(c.alpha, false))
    return invalid("alpha", fmt::format("must be in (0, 1], got {}", c.alpha));
  if (!in_unit(c.beta, true))
    return invalid("beta", fmt::format("must be in [0, 1], got {}", c.beta));
  if (!in_unit(c.gamma, false))
    return invalid("gamma", fmt::format("must be in (0, 1], got {}", c.gamma));
  if (!in_unit(c.phi, false))
    return invalid("phi", fmt::format("must be in (0, 1], got {}", c.phi));
  if (c.period <= Duration::zero())
    return invalid("period", fmt::format("must be positive, got {}", format_duration(c.period)));
  if (c.season < Duration::zero())
    return invalid("season",
                   fmt::format("must be 0 (off) or positive, got {}", format_duration(c.season)));
  if (c.season > Duration::zero()) {
    if (c.season % c.period != Duration::zero() || c.season < 2 * c.period) {
      return invalid("season",
                     fmt::format("must be a whole number of periods ({}), at least 2, got {}",
                                 format_duration(c.period), format_duration(c.season)));
    }
  }
  if (c.max_season_buckets < 2 || c.max_season_buckets > 1'000'000) {
    return invalid("max_season_buckets",
                   fmt::format("must be between 2 and 1000000, got {}", c.max_season_buckets));
  }
  if (c.error_window < c.period) {
    return invalid("error_window",
                   fmt::format("must be at least one period ({}), got {}",
                               format_duration(c.period), format_duration(c.error_window)));
  }
  if (c.horizon < 1 || c.horizon > kMaxHorizon)
    return invalid("horizon",
                   fmt::format("must be between 1 and {} periods, got {}", kMaxHorizon, c.horizon));
  return HoltWinters(c);
}

HoltWinters::HoltWinters(const HoltWintersConfig& config) : config_(config) {
  error_weight_ = std::min(1.0, static_cast<double>(config.period.count()) /
                                    static_cast<double>(config.error_window.count()));
  if (config.season > Duration::zero()) {
    season_periods_ = config.season / config.period;
    // The fewest whole periods per bucket that keep the buckets within the limit.
    bucket_periods_ = (season_periods_ + config.max_season_buckets - 1) / config.max_season_buckets;
    const int64_t buckets = (season_periods_ + bucket_periods_ - 1) / bucket_periods_;
    profile_.assign(static_cast<size_t>(buckets), 0.0);
    bucket_sum_.assign(static_cast<size_t>(buckets), 0.0);
  }
  horizon_ = 0;  // so that set_horizon sets everything up
  set_horizon(config.horizon);
}

void HoltWinters::set_horizon(int periods) {
  periods = std::clamp(periods, 1, kMaxHorizon);
  if (periods == horizon_) return;
  horizon_ = periods;
  horizon_damped_sum_ = 0;  // damped_sum() below must not take the cached value for the old one
  horizon_damped_sum_ = damped_sum(periods);
  for (int m = 0; m < 2; ++m) {
    pending_[m].assign(static_cast<size_t>(periods), 0.0);
    Errors& e = errors_[m];
    e.horizon_sq = e.horizon_abs = e.horizon_actual = e.horizon_forecast = e.judge_sq = Mean{};
  }
  pending_since_ = n_;
}

double HoltWinters::damped_sum(int periods_ahead) const {
  if (periods_ahead <= 0) return 0;
  if (periods_ahead == horizon_ && horizon_damped_sum_ > 0) return horizon_damped_sum_;
  const double phi = config_.phi;
  if (phi == 1.0) return periods_ahead;
  // phi + phi^2 + ... + phi^h
  return phi * (1 - std::pow(phi, periods_ahead)) / (1 - phi);
}

int HoltWinters::bucket_of(int64_t period_index) const {
  return static_cast<int>((period_index % season_periods_) / bucket_periods_);
}

int64_t HoltWinters::bucket_count(int bucket) const {
  return std::min(bucket_periods_, season_periods_ - bucket * bucket_periods_);
}

double HoltWinters::seasonal_at(int64_t period_index) const {
  return season_periods_ > 0 ? profile_[static_cast<size_t>(bucket_of(period_index))] : 0.0;
}

double HoltWinters::point(Model m, int periods_ahead) const {
  periods_ahead = std::max(periods_ahead, 0);
  const Smoother& s = model_[m];
  double value = s.level + damped_sum(periods_ahead) * s.trend;
  if (m == kSeasonal) value += seasonal_at(n_ - 1 + periods_ahead);
  return value;
}

void HoltWinters::smooth(Smoother& s, double value) const {
  if (n_ == 0) {
    s.level = value;
    s.trend = 0;
    return;
  }
  const double previous = s.level;
  s.level = config_.alpha * value + (1 - config_.alpha) * (s.level + config_.phi * s.trend);
  s.trend = config_.beta * (s.level - previous) + (1 - config_.beta) * config_.phi * s.trend;
}

void HoltWinters::observe(double value) {
  if (!std::isfinite(value)) value = n_ > 0 ? errors_[active()].last_one_step : 0.0;
  value = std::clamp(value, 0.0, kMaxValue);

  track_errors(value);
  smooth(model_[kPlain], value);
  if (season_periods_ > 0) {
    smooth(model_[kSeasonal], value - seasonal_at(n_));
    bucket_sum_[static_cast<size_t>(bucket_of(n_))] += value;
  }
  ++n_;
  if (season_periods_ > 0 && n_ % season_periods_ == 0) end_season();

  // The forecasts this observation allows, kept to be compared with what happens. Clamped as
  // forecast() clamps them: the error is that of what callers get.
  const size_t slot = static_cast<size_t>((n_ - 1) % horizon_);
  for (int m = 0; m < models(); ++m) {
    errors_[m].last_one_step = std::max(0.0, point(static_cast<Model>(m), 1));
    pending_[m][slot] = std::max(0.0, point(static_cast<Model>(m), horizon_));
  }
}

void HoltWinters::track_errors(double value) {
  if (n_ == 0) return;
  const bool due = n_ - horizon_ >= pending_since_;
  const double judge_weight =
      season_periods_ > 0 ? 1.0 / static_cast<double>(season_periods_) : error_weight_;
  for (int m = 0; m < models(); ++m) {
    Errors& e = errors_[m];
    const double one_step = value - e.last_one_step;
    e.one_step_sq.add(one_step * one_step, error_weight_);
    if (!due) continue;
    const double predicted = pending_[m][static_cast<size_t>(n_ % horizon_)];
    const double err = value - predicted;
    e.horizon_sq.add(err * err, error_weight_);
    e.horizon_abs.add(std::abs(err), error_weight_);
    e.horizon_actual.add(value, error_weight_);
    e.horizon_forecast.add(predicted, error_weight_);
    e.judge_sq.add(err * err, judge_weight);
  }
  if (due && season_periods_ > 0) judge();
}

void HoltWinters::judge() {
  // One season to learn the profile, one to see whether it helps.
  if (seasons_ < 2) return;
  const Mean& plain = errors_[kPlain].judge_sq;
  const Mean& seasonal = errors_[kSeasonal].judge_sq;
  if (seasonal.n < season_periods_ / 2) return;  // too little evidence since the last reset
  if (!seasonal_on_ && seasonal.value < kSeasonalOn * plain.value) seasonal_on_ = true;
  if (seasonal_on_ && seasonal.value > kSeasonalOff * plain.value) seasonal_on_ = false;
}

void HoltWinters::end_season() {
  ++seasons_;
  const auto season = static_cast<double>(season_periods_);
  double total = 0;
  for (double s : bucket_sum_)
    total += s;
  const double mean = total / season;
  // Growth from last season to this one, per period: a rising series would otherwise leave a
  // tilt in the profile (its late buckets above its early ones). Unknown after one season.
  const double growth = seasons_ >= 2 ? (mean - last_season_mean_) / season : 0.0;
  const double centre = (season - 1) / 2;
  const double weight = std::max(config_.gamma, 1.0 / seasons_);
  const int current = bucket_of(n_ - 1);
  const double before = profile_[static_cast<size_t>(current)];
  for (size_t b = 0; b < profile_.size(); ++b) {
    const int64_t count = bucket_count(static_cast<int>(b));
    const double bucket_centre = static_cast<double>(static_cast<int64_t>(b) * bucket_periods_) +
                                 static_cast<double>(count - 1) / 2;
    const double target =
        bucket_sum_[b] / static_cast<double>(count) - mean - growth * (bucket_centre - centre);
    profile_[b] = weight * target + (1 - weight) * profile_[b];
    bucket_sum_[b] = 0;
  }
  last_season_mean_ = mean;
  // The deseasonalised level moves with the profile of the bucket it was last fed, so the seasonal
  // model's value now does not jump.
  Smoother& s = model_[kSeasonal];
  s.level += before - profile_[static_cast<size_t>(current)];
  if (seasons_ == 1) {
    // The trend so far includes the season's own slope at its end; start the seasonal model's
    // flat, and judge it on what it does from now on.
    s.trend = 0;
    errors_[kPlain].judge_sq = errors_[kSeasonal].judge_sq = Mean{};
  }
}

HoltWinters::Forecast HoltWinters::forecast(int periods_ahead) const {
  if (n_ == 0) return {};
  periods_ahead = std::max(periods_ahead, 0);
  const Model m = active();
  const double mean = std::max(0.0, point(m, periods_ahead));
  const Errors& e = errors_[m];
  if (e.one_step_sq.n < kMinErrors) return {mean, mean, mean};
  // The error variance measured one period and `horizon` periods ahead, linear in between and
  // beyond (as a random walk's grows); with only one horizon measured, the growth of simple
  // exponential smoothing's, alpha^2 sigma^2 a period.
  const double one_step = e.one_step_sq.value;
  double growth = config_.alpha * config_.alpha * one_step;
  if (horizon_ > 1 && e.horizon_sq.n >= kMinErrors)
    growth = std::max(0.0, (e.horizon_sq.value - one_step) / (horizon_ - 1));
  const double variance = one_step + growth * (std::max(periods_ahead, 1) - 1);
  const double half = kZ95 * std::sqrt(variance);
  return {mean, mean + half, std::max(0.0, mean - half)};
}

std::optional<double> HoltWinters::error() const {
  const Errors& e = errors_[active()];
  if (e.horizon_abs.n < kMinErrors) return std::nullopt;
  const double scale = (e.horizon_actual.value + e.horizon_forecast.value) / 2;
  // |y - f| <= y + f for y, f >= 0, with the same weights for all three means: the ratio is at
  // most 2, and the scale is 0 only when every error was 0.
  if (scale <= 0) return 0.0;
  return std::min(2.0, e.horizon_abs.value / scale);
}

}  // namespace gf
