#include "common/traffic_report.h"

#include <cmath>
#include <span>

namespace gf {
namespace {

size_t bucket(std::span<const int64_t> bounds, int64_t ms) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (ms <= bounds[i]) return i;
  }
  return bounds.size();
}

int64_t p95(std::span<const int64_t> bounds, const std::vector<uint64_t>& counts) {
  uint64_t total = 0;
  for (uint64_t c : counts)
    total += c;
  if (total == 0) return -1;
  uint64_t seen = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    seen += counts[i];
    // Nearest rank: the first bucket holding the 95th percentile sample.
    if (seen * 100 >= total * 95) return i < bounds.size() ? bounds[i] : bounds.back() * 2;
  }
  return bounds.back() * 2;
}

// Prometheus's histogram_quantile rule: the rank's bucket, then linear between its bounds (the
// first bucket starts at 0); past the last finite bound, that bound.
double interpolated_p95(std::span<const int64_t> bounds, const std::vector<uint64_t>& counts) {
  uint64_t total = 0;
  for (uint64_t c : counts)
    total += c;
  if (total == 0) return -1;
  const double rank = 0.95 * static_cast<double>(total);
  double seen = 0;
  for (size_t i = 0; i < counts.size() && i < bounds.size(); ++i) {
    const double in = static_cast<double>(counts[i]);
    if (seen + in >= rank && in > 0) {
      const double lo = i == 0 ? 0.0 : static_cast<double>(bounds[i - 1]);
      return lo + (static_cast<double>(bounds[i]) - lo) * (rank - seen) / in;
    }
    seen += in;
  }
  return static_cast<double>(bounds.back());
}

}  // namespace

bool counts_dropped(const std::vector<uint64_t>& before, const std::vector<uint64_t>& now) {
  if (before.size() != now.size()) return true;
  for (size_t i = 0; i < now.size(); ++i)
    if (now[i] < before[i]) return true;
  return false;
}

void add_counted_since(const std::vector<uint64_t>& before, const std::vector<uint64_t>& now,
                       std::vector<uint64_t>& into) {
  const bool restarted = counts_dropped(before, now);
  into.resize(now.size(), 0);
  for (size_t i = 0; i < now.size(); ++i)
    into[i] += restarted ? now[i] : now[i] - before[i];
}

size_t ttft_bucket(int64_t ms) {
  return bucket(kTtftBoundsMs, ms);
}

size_t ttft_bucket_of_bound(double le_seconds) {
  if (std::isinf(le_seconds)) return kTtftBoundsMs.size();
  // (Less a nanosecond: 0.01 s is 10.000000000000002 ms in binary, and belongs at 10.)
  return ttft_bucket(static_cast<int64_t>(std::ceil(le_seconds * 1000.0 - 1e-6)));
}

int64_t ttft_p95_ms(const std::vector<uint64_t>& counts) {
  return p95(kTtftBoundsMs, counts);
}

size_t tpot_bucket(int64_t ms) {
  return bucket(kTpotBoundsMs, ms);
}

int64_t tpot_p95_ms(const std::vector<uint64_t>& counts) {
  return p95(kTpotBoundsMs, counts);
}

double ttft_p95_interpolated_ms(const std::vector<uint64_t>& counts) {
  return interpolated_p95(kTtftBoundsMs, counts);
}

double tpot_p95_interpolated_ms(const std::vector<uint64_t>& counts) {
  return interpolated_p95(kTpotBoundsMs, counts);
}

}  // namespace gf
