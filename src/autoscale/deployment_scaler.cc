#include "autoscale/deployment_scaler.h"

#include <algorithm>

#include <fmt/compile.h>
#include <fmt/format.h>

#include "autoscale/policy_registry.h"
#include "common/traffic_report.h"
#include "perfmodel/replica_capacity.h"
#include "perfmodel/token_rates.h"

namespace gf {
namespace {

constexpr size_t kKeptChanges = 20;

// The longest window any rule reads: history older than this is dropped. (slo judges a miss
// over its window and the TTFT p95, which the gateways' buckets cap at their last bound.)
Duration history_span(const AutoscalingSpec& a) {
  return std::max({a.window + std::chrono::milliseconds(kTtftBoundsMs.back()), a.size_window,
                   a.panic_window, a.stabilization, a.scale_up_cooldown, a.scale_down_cooldown,
                   a.cold_start + a.period, Duration(std::chrono::minutes(10))});
}

}  // namespace

Result<DeploymentScaler> DeploymentScaler::create(std::string deployment,
                                                  const AutoscalingSpec& spec, TimePoint now) {
  auto policy = make_scaling_policy(spec.policy);
  if (!policy) return policy.error();
  return DeploymentScaler(std::move(deployment), spec, std::move(*policy), now);
}

DeploymentScaler::DeploymentScaler(std::string deployment, const AutoscalingSpec& spec,
                                   std::unique_ptr<ScalingPolicy> policy, TimePoint now)
    : deployment_(std::move(deployment)),
      spec_(spec),
      policy_(std::move(policy)),
      history_(history_span(spec)),
      next_(now + spec.period) {}

void DeploymentScaler::respec(const AutoscalingSpec& spec) {
  // A window made longer reads further back from now on; samples in another unit are dropped.
  if (spec.metric != spec_.metric) {
    history_ = SignalHistory(history_span(spec));
  } else {
    history_.keep(history_span(spec));
  }
  spec_ = spec;
}

// Sizes over the size window, since a few requests say little about size: a second of the
// Mooncake trace may hold one 1k-token prompt, the next one of 80k, and a 10 s window's mean
// prompt swings severalfold with its longest one (docs/autoscaling.md, `sizeWindow`).
DeploymentScaler::WindowSizes DeploymentScaler::window_sizes(TimePoint now) const {
  const auto mean = [&](double LoadSample::*field) {
    return history_.mean(spec_.size_window, now, [field](const LoadSample& x) { return x.*field; })
        .value_or(0);
  };
  WindowSizes w;
  w.arrival_rps = mean(&LoadSample::arrival_rps);
  if (w.arrival_rps <= 0) return w;
  w.mean_prompt_tokens = std::max(1.0, mean(&LoadSample::prompt_tps) / w.arrival_rps);
  w.mean_output_tokens = std::max(1.0, mean(&LoadSample::output_tps) / w.arrival_rps);
  return w;
}

// The work metric's value of the newest sample: its token rates over a replica's (token_rates.h)
// at the size window's mean request sizes.
void DeploymentScaler::weigh_work(const DeploymentState& state, TimePoint now) {
  LoadSample& s = history_.newest();
  if (spec_.metric != ScalingMetric::kWork || !state.perf || !s.known) return;
  const WindowSizes w = window_sizes(now);
  if (w.arrival_rps <= 0) {
    s.work = 0;
    return;
  }
  s.work = token_rates(*state.perf, w.mean_prompt_tokens, w.mean_output_tokens, slo_of(spec_).tpot)
               .replicas(s.prompt_tps, s.output_tps);
}

std::optional<double> DeploymentScaler::model_capacity(const DeploymentState& state,
                                                       TimePoint now) const {
  if (!state.perf || !policy_->uses_model_capacity()) return std::nullopt;
  const WindowSizes w = window_sizes(now);
  if (w.arrival_rps <= 0) return std::nullopt;
  return replica_capacity_rps(slo_of(spec_), *state.perf,
                              Tokens{static_cast<int64_t>(w.mean_prompt_tokens)},
                              Tokens{static_cast<int64_t>(w.mean_output_tokens)});
}

ScalingDecision DeploymentScaler::step(const LoadSample& sample, const DeploymentState& state,
                                       TimePoint now) {
  history_.add(sample);
  weigh_work(state, now);
  const LoadSample& load = *history_.last();
  policy_->observe(load, spec_);
  while (next_ <= now)
    next_ += spec_.period;
  ScalingDecision d;
  d.at = now;
  d.deployment = deployment_;
  d.policy = policy_->name();
  d.from = d.to = state.current;
  d.load = load;
  if (!load.known) {
    d.rule = "no signal";
    d.reason = fmt::format(
        FMT_COMPILE("no gateway reported load for this model: holding {} replicas"), state.current);
  } else if (state.current == 0) {
    // From zero no policy has a per-replica figure to divide by: any demand gets one replica at
    // once, and the policy sizes the rest once that one serves.
    if (load.concurrency() > 0 || load.arrival_rps > 0) {
      d.to = 1;
      d.rule = "scale from zero";
      d.reason = fmt::format(FMT_COMPILE("{:.0f} requests waiting or in flight and no replica"),
                             load.concurrency());
    } else {
      d.rule = "idle";
      d.reason = "no requests";
    }
  } else {
    const Recommendation rec =
        policy_->recommend(PolicyInput{spec_, history_, state.current, now, last_up_, last_down_,
                                       model_capacity(state, now), state.gpu_model, state.perf});
    d.to = rec.replicas;
    d.rule = rec.rule;
    d.reason = rec.reason;
    d.forecast = rec.forecast;
    constrain(d, rec, state, now);
  }
  d.to = std::clamp(d.to, state.range.min, std::max(state.range.min, state.range.max));
  if (d.to > d.from) last_up_ = now;
  if (d.to < d.from) last_down_ = now;
  track_readiness(d, now);
  if (d.changed()) {
    changes_.push_back(d);
    if (changes_.size() > kKeptChanges) changes_.pop_front();
  }
  last_ = d;
  return d;
}

void DeploymentScaler::track_readiness(ScalingDecision& d, TimePoint now) {
  // Each new Ready replica answers the oldest scale-up still waiting (first asked, first placed:
  // the fleet places Pending replicas in order).
  for (int i = last_ready_; i < d.load.ready && !awaiting_ready_.empty(); ++i) {
    d.scale_up_to_ready.push_back(now - awaiting_ready_.front());
    awaiting_ready_.pop_front();
  }
  last_ready_ = d.load.ready;
  for (int i = d.from; i < d.to; ++i)
    awaiting_ready_.push_back(now);
  // Scaling down cancels the newest requests first (the fleet removes not-Ready replicas first).
  for (int i = d.to; i < d.from && !awaiting_ready_.empty(); ++i)
    awaiting_ready_.pop_back();
}

void DeploymentScaler::constrain(ScalingDecision& d, const Recommendation& rec,
                                 const DeploymentState& state, TimePoint now) {
  const int current = state.current;
  if (policy_->stabilized()) {
    // HPA's scale-down stabilization: go down only to the highest advice of the whole window,
    // so a dip shorter than the window removes nothing.
    advice_.emplace_back(now, d.to);
    while (!advice_.empty() && advice_.front().first <= now - spec_.stabilization)
      advice_.pop_front();
    if (d.to < current) {
      int highest = d.to;
      for (const auto& [t, n] : advice_)
        highest = std::max(highest, n);
      if (highest > d.to) {
        d.to = std::min(current, highest);
        d.reason += fmt::format(FMT_COMPILE("; held at {} by the {} stabilization window"), d.to,
                                format_duration(spec_.stabilization));
      }
    }
  }
  if (rec.hold_down) d.to = std::max(d.to, current);
  if (state.range.min == 0) {
    // To zero only after a whole idle period; until then one replica stays warm.
    const auto idle = history_.idle_since();
    if (idle && now - *idle >= spec_.scale_to_zero_after) {
      d.to = 0;
      d.rule = "scale to zero";
      d.reason = fmt::format(FMT_COMPILE("no requests for {}"), format_duration(now - *idle));
    } else {
      d.to = std::max(d.to, 1);
    }
  }
  const int up = spec_.max_step_up > 0 ? spec_.max_step_up : std::max(4, current);
  if (d.to > current + up) {
    d.to = current + up;
    d.reason += fmt::format(FMT_COMPILE("; limited to +{} per period"), up);
  }
  if (spec_.max_step_down > 0 && d.to < current - spec_.max_step_down) {
    d.to = current - spec_.max_step_down;
    d.reason += fmt::format(FMT_COMPILE("; limited to -{} per period"), spec_.max_step_down);
  }
}

}  // namespace gf
