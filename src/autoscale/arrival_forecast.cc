#include "autoscale/arrival_forecast.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace gf {

int ArrivalForecast::horizon(const AutoscalingSpec& spec) {
  const auto periods = (spec.cold_start + spec.period + spec.period - Duration(1)) / spec.period;
  return static_cast<int>(std::clamp<int64_t>(periods, 1, HoltWinters::kMaxHorizon));
}

void ArrivalForecast::observe(const LoadSample& load, const AutoscalingSpec& spec) {
  if (!hw_ || period_ != spec.period || season_ != spec.season) {
    HoltWintersConfig c;
    c.period = spec.period;
    // A season that is not a whole number of periods cannot be bucketed: run without one.
    c.season = spec.season % spec.period == Duration(0) ? spec.season : Duration(0);
    c.horizon = horizon(spec);
    auto hw = HoltWinters::create(c);
    if (!hw) return;
    hw_.emplace(std::move(*hw));
    period_ = spec.period;
    season_ = spec.season;
  }
  if (hw_->horizon() != horizon(spec)) hw_->set_horizon(horizon(spec));
  // Unknown periods are missing values: the forecaster fills them and keeps its season in step.
  hw_->observe(load.known ? load.arrival_rps : std::numeric_limits<double>::quiet_NaN());
}

std::optional<ArrivalForecast::Usable> ArrivalForecast::usable(const AutoscalingSpec& spec,
                                                               std::string& why) const {
  const std::optional<double> err = hw_ ? hw_->error() : std::nullopt;
  if (!err) {
    why = fmt::format("forecast warming up ({} periods seen)", hw_ ? hw_->observations() : 0);
    return std::nullopt;
  }
  if (*err > spec.max_forecast_error) {
    why = fmt::format("forecast error {:.2f} is above {:.2f}", *err, spec.max_forecast_error);
    return std::nullopt;
  }
  Usable u;
  u.horizon = horizon(spec);
  u.at_horizon = hw_->forecast(u.horizon);
  u.error = *err;
  u.summary = fmt::format("forecast {:.1f} req/s in {} (upper {:.1f}, error {:.2f}{})",
                          u.at_horizon.mean, format_duration(u.horizon * spec.period),
                          u.at_horizon.upper, *err, hw_->seasonal() ? ", seasonal" : "");
  return u;
}

}  // namespace gf
