// ConcurrencyLimit: how many requests one holder (a tenant, a model) has in flight, against an
// optional cap. The count never goes negative: a release without an acquire is an error value.
#pragma once

#include <optional>

#include "common/result.h"

namespace gf {

class ConcurrencyLimit {
 public:
  // nullopt: no cap, only counting.
  explicit ConcurrencyLimit(std::optional<int> limit = std::nullopt) : limit_(limit) {}

  bool has_room() const { return !limit_ || in_flight_ < *limit_; }

  // One more in flight if there is room.
  bool try_acquire();

  // One fewer in flight. kFailedPrecondition (and no change) when nothing is in flight: a double
  // release is a caller bug that must not turn into a free slot.
  Status release();

  // A new cap takes effect for later acquisitions; lowering it below what is in flight refuses
  // new ones until enough have been released.
  void set_limit(std::optional<int> limit) { limit_ = limit; }

  int in_flight() const { return in_flight_; }
  std::optional<int> limit() const { return limit_; }

 private:
  std::optional<int> limit_;
  int in_flight_ = 0;
};

}  // namespace gf
