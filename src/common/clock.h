// Clock: the only way gpufleet code learns the time. Core code takes `now` as an argument; shells
// hold a Clock, real in production (common/io/real_clock.h) and manual in tests and the
// simulator.
#pragma once

#include "common/units.h"

namespace gf {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

// Time that moves only when told to. Starts at an arbitrary fixed epoch so tests are repeatable.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint(Duration(1'000'000'000'000))) : now_(start) {}
  TimePoint now() const override { return now_; }
  void advance(Duration d) { now_ += d; }
  void set(TimePoint t) { now_ = t; }

 private:
  TimePoint now_;
};

}  // namespace gf
