#include "common/rng.h"

#include <cmath>
#include <limits>

namespace gf {

double Rng::uniform01() {
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

uint64_t Rng::uniform_below(uint64_t n) {
  if (n == 0) return 0;
  // Rejects the 2^64 mod n lowest values, after which x mod n is exactly uniform (OpenBSD's
  // arc4random_uniform); a retry happens with probability < n / 2^64.
  const uint64_t threshold = (0 - n) % n;
  uint64_t x = next();
  while (x < threshold)
    x = next();
  return x % n;
}

int64_t Rng::uniform_int(int64_t lo, int64_t hi) {
  if (hi <= lo) return lo;
  // The span is computed in unsigned arithmetic so [INT64_MIN, INT64_MAX] does not overflow.
  const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  const uint64_t offset =
      span == std::numeric_limits<uint64_t>::max() ? next() : uniform_below(span + 1);
  return static_cast<int64_t>(static_cast<uint64_t>(lo) + offset);
}

// By inversion, one draw per value: floor(log(u) / log(1 - p)) with u in (0, 1]. std::log is
// correctly rounded or within one ulp in glibc, musl and MSVC's CRT, so a floor can differ only
// when the quotient lies within an ulp of an integer.
int64_t Rng::geometric(double p) {
  if (!(p < 1.0)) return 0;
  if (!(p > 0.0)) return std::numeric_limits<int64_t>::max();
  const double u = 1.0 - uniform01();  // (0, 1]: log(0) would be -inf
  const double k = std::floor(std::log(u) / std::log1p(-p));
  if (k >= static_cast<double>(std::numeric_limits<int64_t>::max()))
    return std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(k);
}

double Rng::exponential(double mean) {
  return -mean * std::log(1.0 - uniform01());
}

}  // namespace gf
