#include "agent/engine_drain.h"

#include <fmt/format.h>

namespace gf {

EngineDrain::EngineDrain(TimePoint started, Duration timeout, Duration settle)
    : started_(started), timeout_(std::max(timeout, Duration(0))), settle_(settle) {}

void EngineDrain::observe(const EngineLoad& load, TimePoint asked_at) {
  // Scrapes may finish out of order; an older one says nothing about now.
  if (load_ && asked_at < load_at_) return;
  load_ = load;
  load_at_ = asked_at;
}

DrainVerdict EngineDrain::decide(TimePoint now) const {
  const TimePoint settled = started_ + settle_;
  if (load_ && load_->in_flight() <= 0 && load_at_ >= settled)
    return {true, now, "no request in flight"};
  if (now >= deadline()) {
    std::string left = load_ ? fmt::format("{:g} requests still in flight", load_->in_flight())
                             : std::string("its load unknown");
    return {true, now,
            fmt::format("drain timeout ({}) passed with {}", format_duration(timeout_), left)};
  }
  if (!load_) return {false, deadline(), "draining: waiting for the engine's load"};
  if (load_->in_flight() <= 0)
    return {false, deadline(), "draining: idle, waiting for routes to settle"};
  return {false, deadline(),
          fmt::format("draining: {:g} running, {:g} waiting", load_->running, load_->waiting)};
}

}  // namespace gf
