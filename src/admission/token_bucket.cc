#include "admission/token_bucket.h"

#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

namespace gf {

namespace {

// Ceiling division for a non-negative numerator and positive denominator.
int64_t ceil_div(int64_t num, int64_t den) {
  return num / den + (num % den != 0 ? 1 : 0);
}

}  // namespace

Result<TokenRate> TokenRate::per_second(double rps) {
  // Bounds keep rps * 1000 exact in a double and the bucket's arithmetic within 64 bits.
  if (!(rps >= 0.001 && rps <= 1e9)) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("requests per second must be between 0.001 and 1e9, got {}", rps));
  }
  return TokenRate{static_cast<int64_t>(std::llround(rps * 1000.0)), std::chrono::seconds(1000)};
}

Result<TokenBucket> TokenBucket::create(TokenRate rate, int64_t capacity, TimePoint now) {
  if (rate.amount <= 0 || rate.period <= Duration::zero()) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("token bucket rate must be positive, got {} per {}ns",
                                  rate.amount, rate.period.count()));
  }
  if (capacity <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("token bucket capacity must be positive, got {}", capacity));
  }
  TokenBucket b;
  const int64_t g = std::gcd(rate.amount, rate.period.count());
  b.rate_ = rate;
  b.capacity_ = capacity;
  b.scale_ = rate.period.count() / g;
  b.per_ns_ = rate.amount / g;
  // The widest span the arithmetic covers is from -capacity to +capacity plus one refill step.
  int64_t full = 0, span = 0;
  if (__builtin_mul_overflow(capacity, b.scale_, &full) ||
      __builtin_mul_overflow(full, int64_t{2}, &span) ||
      __builtin_add_overflow(span, b.per_ns_, &span)) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("token bucket of capacity {} at {} per {}ns is too large to "
                                  "count exactly",
                                  capacity, rate.amount, rate.period.count()));
  }
  b.level_ = full;
  b.last_ = now;
  return b;
}

int64_t TokenBucket::level_at(TimePoint now) const {
  const int64_t full = capacity_ * scale_;
  if (level_ >= full || now <= last_) return level_;  // a clock that went back refills nothing
  const int64_t elapsed = (now - last_).count();
  // Compare elapsed time with the time to fill before multiplying, so that a long idle gap
  // cannot overflow: elapsed * per_ns_ is only formed when it is below the missing amount.
  const int64_t missing = full - level_;
  if (elapsed >= ceil_div(missing, per_ns_)) return full;
  return level_ + elapsed * per_ns_;
}

void TokenBucket::advance(TimePoint now) {
  level_ = level_at(now);
  if (now > last_) last_ = now;
}

Duration TokenBucket::time_until(int64_t n, TimePoint now) const {
  if (n <= 0) return Duration::zero();
  if (n > capacity_) return Duration::max();
  const int64_t need = n * scale_ - level_at(now);
  if (need <= 0) return Duration::zero();
  return Duration(ceil_div(need, per_ns_));
}

TokenBucket::Take TokenBucket::try_take(int64_t n, TimePoint now) {
  if (n <= 0) return Take{};
  if (n > capacity_) return Take{Take::Kind::kNever, Duration::max()};
  advance(now);
  const int64_t need = n * scale_;
  if (level_ >= need) {
    level_ -= need;
    return Take{};
  }
  return Take{Take::Kind::kWait, Duration(ceil_div(need - level_, per_ns_))};
}

void TokenBucket::charge(int64_t n, TimePoint now) {
  if (n <= 0) return;
  advance(now);
  // Compare in whole units before multiplying, so that an absurd n cannot overflow: n > room /
  // scale means n * scale > room, and otherwise n * scale <= room, which fits.
  const int64_t floor = -capacity_ * scale_;
  const int64_t room = level_ - floor;
  level_ = n > room / scale_ ? floor : level_ - n * scale_;
}

void TokenBucket::refund(int64_t n, TimePoint now) {
  if (n <= 0) return;
  advance(now);
  const int64_t full = capacity_ * scale_;
  const int64_t room = full - level_;
  level_ = n > room / scale_ ? full : level_ + n * scale_;
}

int64_t TokenBucket::available(TimePoint now) const {
  const int64_t level = level_at(now);
  // Floor division, so a level of -0.5 units reads as -1 (not yet back to zero).
  return level >= 0 ? level / scale_ : -ceil_div(-level, scale_);
}

}  // namespace gf
