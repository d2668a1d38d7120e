// Quantities with units: Bytes, MiB, MilliGpu, Tokens and Duration, parsed from strings like
// "80GiB", "500m", "4Ki" and "1h30m". Resource arithmetic is integer-only by design: floating-point
// GPU fractions are a known source of placement bugs (Ray's 0.9999999999999999/4.0 GPU).
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace gf {

// An integer amount of one unit. Tag only keeps different units from mixing.
template <class Tag>
struct Quantity {
  int64_t value = 0;

  constexpr Quantity() = default;
  constexpr explicit Quantity(int64_t v) : value(v) {}

  constexpr auto operator<=>(const Quantity&) const = default;
  constexpr Quantity operator+(Quantity o) const { return Quantity(value + o.value); }
  constexpr Quantity operator-(Quantity o) const { return Quantity(value - o.value); }
  constexpr Quantity operator*(int64_t k) const { return Quantity(value * k); }
  constexpr Quantity& operator+=(Quantity o) {
    value += o.value;
    return *this;
  }
  constexpr Quantity& operator-=(Quantity o) {
    value -= o.value;
    return *this;
  }
  constexpr bool is_zero() const { return value == 0; }
};

struct BytesTag {};
struct MiBTag {};
struct MilliGpuTag {};
struct TokensTag {};

using Bytes = Quantity<BytesTag>;
using MiB = Quantity<MiBTag>;            // GPU memory in the pool: whole mebibytes
using MilliGpu = Quantity<MilliGpuTag>;  // compute share: 1000 = one whole GPU
using Tokens = Quantity<TokensTag>;

inline constexpr MilliGpu kWholeGpu{1000};

constexpr MiB to_mib_floor(Bytes b) {
  return MiB(b.value / (int64_t{1} << 20));
}
constexpr Bytes to_bytes(MiB m) {
  return Bytes(m.value * (int64_t{1} << 20));
}

using Duration = std::chrono::nanoseconds;
// Time on a gpufleet Clock. The epoch is the clock's own; only differences matter.
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

// "80GiB", "80Gi", "512MiB", "1.5GiB", "80GB" (decimal), "1024" (bytes). Fractions round down.
Result<Bytes> parse_bytes(std::string_view text);
// "500ms", "2m", "1.5s", "1h30m", "250us", "10ns". A bare number is an error: units are required.
Result<Duration> parse_duration(std::string_view text);
// "4096", "4k" (x1000), "8Ki" (x1024).
Result<Tokens> parse_tokens(std::string_view text);
// "1", "0.25", "250m" (milli), "1500m".
Result<MilliGpu> parse_milli_gpu(std::string_view text);

// Human forms: "80GiB", "40960MiB" -> "40GiB", "1.5s", "0.25 GPU".
std::string format_bytes(Bytes b);
std::string format_mib(MiB m);
std::string format_duration(Duration d);
// Milliseconds, fractional: latency figures and the perf model's coefficients are in them.
constexpr double to_ms(Duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}
std::string format_milli_gpu(MilliGpu g);

}  // namespace gf
