#include "common/traffic_report.h"

namespace gf {

size_t ttft_bucket(int64_t ms) {
  for (size_t i = 0; i < kTtftBoundsMs.size(); ++i) {
    if (ms <= kTtftBoundsMs[i]) return i;
  }
  return kTtftBoundsMs.size();
}

int64_t ttft_p95_ms(const std::vector<uint64_t>& counts) {
  uint64_t total = 0;
  for (uint64_t c : counts)
    total += c;
  if (total == 0) return -1;
  uint64_t seen = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    seen += counts[i];
    // Nearest rank: the first bucket holding the 95th percentile sample.
    if (seen * 100 >= total * 95) {
      return i < kTtftBoundsMs.size() ? kTtftBoundsMs[i] : kTtftBoundsMs.back() * 2;
    }
  }
  return kTtftBoundsMs.back() * 2;
}

}  // namespace gf
