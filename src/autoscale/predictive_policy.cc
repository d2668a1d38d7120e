#include "autoscale/predictive_policy.h"

#include <cmath>

#include <fmt/format.h>

namespace gf {

Recommendation PredictivePolicy::recommend(const PolicyInput& in) {
  const AutoscalingSpec& a = in.spec;
  Recommendation base = target_.recommend(in);
  auto fallback = [&](const std::string& why) {
    base.rule = "fallback: " + base.rule;
    base.reason = why + "; target: " + base.reason;
    return base;
  };
  std::string why;
  const auto f = forecast_.usable(a, why);
  if (!f) return fallback(why);
  // The forecast is of arrivals; the metric may be concurrency or work. Each arrival brings the
  // window's mean of it: for concurrency, Little's law with the time a request spends in the
  // system; for work, a request's share of a replica's time.
  double per_arrival = 1.0;
  if (a.metric != ScalingMetric::kRps) {
    const double arrivals =
        in.history.mean(a.window, in.now, [](const LoadSample& s) { return s.arrival_rps; })
            .value_or(0);
    if (arrivals <= 0) return fallback("no arrivals in the window to relate load to");
    per_arrival = mean_load(in, a.window) / arrivals;
  }
  const double load = f->at_horizon.upper * per_arrival;
  const double per_replica = a.replica_capacity * a.target_utilization;
  const int want = static_cast<int>(std::ceil(load / per_replica - 1e-9));
  // The same tolerance as target's: a forecast within it of what the current replicas take adds
  // nothing, or noise in the forecast's band would add and remove replicas all day.
  const bool within = load <= in.current * per_replica * (1.0 + a.tolerance);
  if (want <= base.replicas || within) {
    base.forecast = load;
    base.reason += "; " + f->summary + (within ? " is within tolerance" : " needs no more");
    return base;
  }
  Recommendation r;
  r.replicas = want;
  r.rule = "forecast";
  r.forecast = load;
  r.hold_down = base.hold_down;
  r.reason = fmt::format("{} x {:.2f} per request = {:.1f} / {:.2f} per replica = {} replicas",
                         f->summary, per_arrival, load, per_replica, want);
  return r;
}

}  // namespace gf
