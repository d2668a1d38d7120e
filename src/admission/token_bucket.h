// TokenBucket: a rate limit with a burst, in exact integer arithmetic, used for a tenant's
// requests per second and tokens per minute. Answers "take n now" or "wait exactly this long".
#pragma once

#include <cstdint>

#include "common/result.h"
#include "common/units.h"

namespace gf {

// `amount` units every `period`, e.g. {10, 1s} or {90000, 1min}. A rational, so 1000 tokens per
// minute is exactly one token every 60 ms and never drifts the way a per-ns double would.
struct TokenRate {
  int64_t amount = 0;
  Duration period{0};

  // A requests-per-second value from a manifest (a double, e.g. 2.5), kept to 1/1000 request/s:
  // {round(rps * 1000), 1000 s}. Error outside [0.001, 1e9].
  static Result<TokenRate> per_second(double rps);
  static TokenRate per_minute(int64_t n) { return TokenRate{n, std::chrono::minutes(1)}; }
};

class TokenBucket {
 public:
  // What try_take found.
  struct Take {
    enum class Kind {
      kTaken,  // the units were taken
      kWait,   // not enough now; `wait` from now there will be (if nobody else takes them)
      kNever,  // more than the capacity: no wait is long enough
    };
    Kind kind = Kind::kTaken;
    Duration wait{0};

    bool ok() const { return kind == Kind::kTaken; }
  };

  // A full bucket (`capacity` units available at `now`). Errors: a non-positive rate or
  // capacity, or one so large that the scaled arithmetic would overflow 64 bits.
  static Result<TokenBucket> create(TokenRate rate, int64_t capacity, TimePoint now);

  // Takes n units if they are there. n <= 0 is always taken (and takes nothing).
  Take try_take(int64_t n, TimePoint now);

  // How long from `now` until n units are available: zero if they are now, Duration::max() if
  // n > capacity. Does not change the bucket.
  Duration time_until(int64_t n, TimePoint now) const;

  // Takes n units unconditionally, e.g. when a request turned out to use more tokens than it
  // was charged for. The bucket may go into debt (later requests wait until it is repaid), but
  // never below -capacity, so one badly underestimated request cannot block a tenant for more
  // than two bucket-fill times.
  void charge(int64_t n, TimePoint now);

  // Gives back n units taken earlier and not used (a request's estimate minus what it really
  // used). Never fills above capacity.
  void refund(int64_t n, TimePoint now);

  // Whole units available at `now` (negative while in debt).
  int64_t available(TimePoint now) const;
  int64_t capacity() const { return capacity_; }
  TokenRate rate() const { return rate_; }

 private:
  TokenBucket() = default;

  // The level at `now`, in scaled units.
  int64_t level_at(TimePoint now) const;
  void advance(TimePoint now);

  // Exact arithmetic: with g = gcd(rate.amount, rate.period in ns), one unit is `scale_` =
  // period/g scaled units and the bucket gains `per_ns_` = amount/g scaled units per nanosecond.
  // Every quantity is an integer; e.g. 10/s gives scale 1e8, per_ns 1: one unit per 100 ms.
  TokenRate rate_;
  int64_t capacity_ = 0;
  int64_t scale_ = 1;
  int64_t per_ns_ = 1;
  int64_t level_ = 0;  // scaled units, in [-capacity * scale, capacity * scale]
  TimePoint last_{};   // when level_ was computed
};

}  // namespace gf
