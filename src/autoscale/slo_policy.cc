#include "autoscale/slo_policy.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "common/traffic_report.h"

namespace gf {
namespace {

// A violation lowers the belief to just under the load that broke the SLO, but never below this
// share of the seed: one bad period (a cold start, a burst of long prompts) must not collapse it.
constexpr double kBackoff = 0.9;
constexpr double kFloorOfSeed = 0.25;
// The SLO must be missed this many periods in a row before the belief drops: a one-second p95
// holds a handful of requests, and one slow answer is not a capacity.
constexpr int kViolationsToLearn = 3;
// The SLO is judged on the window's answers merged, and only when there are this many: fewer
// say nothing about a p95.
constexpr uint64_t kMinAnswers = 20;
// A miss at a load per replica the SLO held at within this long is not a capacity: the SLO is
// missed there by something more replicas do not fix (prompts whose own prefill outlasts the
// TTFT target, a burst of long ones). Backing off on it would lower the belief, add replicas,
// lower the load per replica, miss again and back off again, up to replicas.max.
constexpr Duration kHeldMemory = std::chrono::minutes(5);

}  // namespace

std::optional<double> SloPolicy::capacity(const std::string& gpu_model) const {
  auto it = belief_.find(gpu_model);
  if (it == belief_.end()) return std::nullopt;
  return it->second.rps();
}

std::optional<bool> SloPolicy::learn(const PolicyInput& in, Belief& b, bool update) {
  const LoadSample& s = *in.history.last();
  const AutoscalingSpec& a = in.spec;
  const WindowLatency w = in.history.latency(a.window, in.now);
  if (w.answers < kMinAnswers) return std::nullopt;
  const double ttft_p95 = ttft_p95_interpolated_ms(w.ttft);
  const double tpot_p95 = tpot_p95_interpolated_ms(w.tpot);
  const bool ttft_held = !a.slo_ttft || ttft_p95 < 0 || ttft_p95 <= to_ms(*a.slo_ttft);
  const bool tpot_held = !a.slo_tpot || tpot_p95 < 0 || tpot_p95 <= to_ms(*a.slo_tpot);
  const bool held = ttft_held && tpot_held;
  // A miss says the replicas are too few only while requests pile up: with nothing waiting, or
  // fewer waiting than over the window, it is a backlog the fleet is already draining (routed
  // before a scale-up), or long prompts that more replicas would not prefill faster (their
  // chunks slow the decodes riding with them too, so TPOT misses are no different: counting
  // those with nothing waiting brought the ratchet back on the Mooncake trace, 21.1 -> 32.9
  // GPU-hours). Engines that do not report their queue leave the gateways' alone, which cannot
  // tell: every miss counts then, as before.
  const auto backlog = [](const LoadSample& x) {
    return x.queued + static_cast<double>(x.engine_waiting.value_or(0));
  };
  const double waiting = backlog(s);
  const bool piling_up =
      !s.engine_waiting ||
      (waiting > 0 && waiting >= in.history.mean(a.window, in.now, backlog).value_or(0));
  // A late answer in the window arrived up to its TTFT before it: what it met is the span of
  // the window and its TTFT p95, not the window alone.
  Duration span = a.window;
  if (!ttft_held && ttft_p95 > 0)
    span +=
        std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(ttft_p95));
  // More replicas shorten the wait for a place in a batch, not a prefill. A late first token
  // whose engines' queue time does not account for the lateness (their TTFT p95 less their
  // queue time's p95 still misses the target) is a long prompt's own prefill, or its chunks
  // beside other work. Both figures are the deployment's own engines'. Only with no request
  // waiting in a gateway over the span (a wait the engines do not see), with the engines
  // reporting both, and with TPOT held. vLLM counts a queue time when its request finishes, so
  // at the start of a backlog the queue time lags: this rule then holds a back-off, never makes
  // one.
  bool wait_explains = true;
  const bool gateway_waited =
      in.history.mean(span, in.now, [](const LoadSample& x) { return x.queued; }).value_or(0) > 0;
  if (!ttft_held && tpot_held && !gateway_waited && w.queue_samples >= kMinAnswers &&
      w.engine_answers >= kMinAnswers) {
    const double prefill_p95 =
        ttft_p95_interpolated_ms(w.engine_ttft) - ttft_p95_interpolated_ms(w.engine_queue);
    wait_explains = prefill_p95 <= to_ms(*a.slo_ttft);
  }
  // Only a run of such misses lowers the belief: one that is not breaks it.
  b.violations = !held && piling_up && wait_explains ? b.violations + 1 : 0;
  // The load per Ready replica, not one period's: arrivals in one second are too few to say what
  // a replica carried. Over the window when the SLO held; over the span when TTFT missed: over
  // the window alone, the misses of a backlog that built up while the replicas were too few,
  // and drains now that they are not, would count against the load per replica of the many (on
  // the Mooncake trace they did, in the warm-up, and held the deployment at twice the replicas
  // it needed). Periods with no replica Ready carried nothing per replica and are left out.
  const auto per = in.history.mean_where(
      span, in.now, [](const LoadSample& x) { return x.arrival_rps / x.ready; },
      [](const LoadSample& x) { return x.ready > 0; });
  if (!update || s.ready <= 0 || !per || *per <= 0) return held;
  // In the belief's units: a share of what the perf model says a replica takes at these sizes.
  const double per_replica = *per / b.scale;
  double& cap = b.factor;
  if (held) {
    // The highest load it held at lately (a newer hold replaces one older than the memory).
    if (!b.held_at || per_replica >= b.held_load || in.now - *b.held_at > kHeldMemory) {
      b.held_load = per_replica;
      b.held_at = in.now;
    }
  }
  const bool held_there_lately =
      b.held_at && in.now - *b.held_at <= kHeldMemory && per_replica <= b.held_load;
  if (held && per_replica > cap) {
    cap = per_replica;  // the SLO held at more load than we believed a replica takes
  } else if (b.violations >= kViolationsToLearn && per_replica < cap && !held_there_lately) {
    cap = std::max(per_replica * kBackoff, b.floor);
  }
  return held;
}

Recommendation SloPolicy::recommend(const PolicyInput& in) {
  const AutoscalingSpec& a = in.spec;
  Recommendation r;
  r.replicas = in.current;
  const double model = in.model_capacity_rps.value_or(0);
  auto it = belief_.find(in.gpu_model);
  if (it == belief_.end()) {
    // Seed: the perf model's figure for this GPU and these request sizes; without one, the
    // load one replica carries now (the count holds until latency says more).
    Belief seed;
    if (model > 0) {
      seed.scale = model;
      seed.relative = true;
    } else {
      const LoadSample& s = *in.history.last();
      seed.factor = s.ready > 0 && s.arrival_rps > 0 ? s.arrival_rps / s.ready : 0;
    }
    if (seed.factor <= 0) {
      r.rule = "learning";
      r.reason = "no capacity figure yet for " +
                 (in.gpu_model.empty() ? std::string("these replicas") : in.gpu_model) +
                 ": holding until requests are served";
      return r;
    }
    seed.floor = seed.factor * kFloorOfSeed;
    it = belief_.emplace(in.gpu_model, seed).first;
  }
  Belief& b = it->second;
  if (model > 0) {
    // The perf model's figure at this window's sizes. Factor and loads are shares of it and carry
    // over as they are; a belief learned without one becomes such a share.
    if (!b.relative) {
      b.factor /= model;
      b.held_load /= model;
      b.floor = kFloorOfSeed;
      b.relative = true;
    }
    b.scale = model;
  }
  // A relative belief learns only against this window's figure: with none (nothing arrived, or
  // the perf model says a replica sustains nothing at these sizes, a window of the longest
  // prompts), a share of the last one would misjudge the load. It still judges and sizes.
  const std::optional<bool> held = learn(in, b, model > 0 || !b.relative);
  const double cap = b.rps();
  const double recent =
      in.history.mean(a.window, in.now, [](const LoadSample& s) { return s.arrival_rps; })
          .value_or(0);
  // Size for what arrives once a new replica serves, when the forecast can be trusted.
  std::string why;
  const auto f = forecast_.usable(a, why);
  const double rate = f ? std::max(recent, f->at_horizon.upper) : recent;
  // Requests already waiting must be served too: spread them over one cold start.
  const LoadSample& s = *in.history.last();
  const double drain_s = std::max(1.0, std::chrono::duration<double>(a.cold_start).count());
  const double load = rate + s.queued / drain_s;
  const double usable = cap * (1.0 - a.headroom);
  int want = static_cast<int>(std::ceil(load / usable - 1e-9));
  r.forecast = load;
  r.rule = "capacity";
  r.reason = fmt::format(
      "{:.2f} req/s (+{:.0f} queued) / {:.2f} req/s per {} replica ({:.0f}% "
      "headroom) = {} replicas; {}",
      rate, s.queued, usable, in.gpu_model.empty() ? "" : in.gpu_model, a.headroom * 100, want,
      f ? f->summary : why);
  if (held && !*held && want <= in.current && s.queued > 0) {
    // Violated with requests waiting: the capacity belief is behind; add one now.
    want = in.current + 1;
    r.rule = "slo violated";
    r.reason =
        fmt::format("SLO missed (TTFT p95 {} ms, TPOT p95 {} ms) with {:.0f} queued: one more",
                    s.ttft_p95_ms ? fmt::format("{:.0f}", *s.ttft_p95_ms) : "-",
                    s.tpot_p95_ms ? fmt::format("{:.0f}", *s.tpot_p95_ms) : "-", s.queued);
  }
  r.replicas = want;
  return r;
}

}  // namespace gf
