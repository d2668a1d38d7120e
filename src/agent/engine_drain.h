// When the agent may stop the engine of a draining replica: once the engine says it has no
// request running or queued, or once the drain timeout has passed, whichever comes first. Pure:
// the agent scrapes the engine's metrics (agent/engine_load.h) and hands each load in with the
// time the scrape was asked for; this says "stop now" or "wait until T", and why.
#pragma once

#include <optional>
#include <string>

#include "agent/engine_load.h"
#include "common/units.h"

namespace gf {

struct DrainVerdict {
  bool stop = false;
  TimePoint wait_until{};  // when not stopping: the latest it waits (the drain deadline)
  std::string reason;
};

class EngineDrain {
 public:
  // `settle`: an idle load counts only if its scrape was asked for at least this long after the
  // drain started. The replica left the routing table just before, but a gateway that picked it a
  // moment earlier may still be sending a request; an early idle reading could stop the engine
  // under that request.
  EngineDrain(TimePoint started, Duration timeout, Duration settle = std::chrono::seconds(1));

  // A scrape's load, as of `asked_at`. Only a newer reading replaces the one held.
  void observe(const EngineLoad& load, TimePoint asked_at);
  DrainVerdict decide(TimePoint now) const;

  TimePoint started() const { return started_; }
  TimePoint deadline() const { return started_ + timeout_; }
  const std::optional<EngineLoad>& last_load() const { return load_; }

 private:
  TimePoint started_;
  Duration timeout_;
  Duration settle_;
  std::optional<EngineLoad> load_;
  TimePoint load_at_{};
};

}  // namespace gf
