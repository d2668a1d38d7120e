// Drives one DeploymentScaler with synthetic load on a manual clock: a load shape (concurrency
// or arrivals as a function of time), one sample per control period, replicas that become Ready
// a cold start after they were asked for.
#pragma once

#include <algorithm>
#include <functional>
#include <vector>

#include "autoscale/deployment_scaler.h"
#include "common/clock.h"

namespace gf::testing {

using namespace std::chrono_literals;

struct ScalerRun {
  AutoscalingSpec spec;
  ReplicasSpec range{1, 20};
  Duration cold_start{0};
  // The profile a policy that sizes from one reads (dynamo-sla): Llama-2-7B on an A100.
  std::optional<PerfModel> perf = [] {
    auto pm = PerfModel::lookup("A100-80GB", "meta-llama/Llama-2-7b-hf", 1);
    return pm.ok() ? std::optional<PerfModel>(*pm) : std::nullopt;
  }();

  // One step per period for `length`; `load(t)`: the concurrency (and, for the rps metric, the
  // arrival rate) at `t` since the start. Returns the decision of every period.
  std::vector<ScalingDecision> run(DeploymentScaler& s, ManualClock& clock, Duration length,
                                   const std::function<double(Duration)>& load) {
    std::vector<ScalingDecision> out;
    const TimePoint start = clock.now();
    while (clock.now() - start < length) {
      clock.advance(spec.period);
      const Duration t = clock.now() - start;
      LoadSample l;
      l.at = clock.now();
      l.span = spec.period;
      l.known = true;
      l.in_flight = load(t);
      l.arrival_rps = load(t);
      l.prompt_tps = l.arrival_rps * 512;  // requests of 512 prompt and 128 output tokens
      l.output_tps = l.arrival_rps * 128;
      l.ready = ready_at(clock.now());
      ScalingDecision d =
          s.step(l, DeploymentState{current, range, "A100-80GB", perf}, clock.now());
      for (int i = current; i < d.to; ++i)
        asked.push_back(clock.now());
      current = d.to;
      out.push_back(std::move(d));
    }
    return out;
  }

  int ready_at(TimePoint now) const {
    int starting = 0;
    for (TimePoint t : asked)
      if (now - t < cold_start) ++starting;
    return std::max(0, current - starting);
  }

  int current = 1;
  std::vector<TimePoint> asked;
};

// How often the direction of change flipped (up then down, or down then up).
inline int direction_changes(const std::vector<ScalingDecision>& ds) {
  int last = 0;
  int flips = 0;
  for (const auto& d : ds) {
    const int dir = d.to > d.from ? 1 : d.to < d.from ? -1 : 0;
    if (dir == 0) continue;
    if (last != 0 && dir != last) ++flips;
    last = dir;
  }
  return flips;
}

}  // namespace gf::testing
