#include "fleet/canary_judge.h"

#include <fmt/format.h>

namespace gf {

std::string canary_verdict(const std::string& canary_revision, const RevisionStats& canary,
                           const RevisionStats& stable, const CanaryThresholds& t) {
  if (canary.requests < t.min_requests || stable.requests < t.min_requests) return "";
  double ce = static_cast<double>(canary.errors) / static_cast<double>(canary.requests);
  double se = static_cast<double>(stable.errors) / static_cast<double>(stable.requests);
  if (canary.errors >= t.min_errors && ce > se + t.error_margin) {
    return fmt::format("canary {} error rate {:.1f}% vs stable {:.1f}% (margin {:.1f} points)",
                       canary_revision, ce * 100, se * 100, t.error_margin * 100);
  }
  int64_t cp = ttft_p95_ms(canary.ttft_counts);
  int64_t sp = ttft_p95_ms(stable.ttft_counts);
  if (cp >= 0 && sp >= 0 &&
      static_cast<double>(cp) > static_cast<double>(sp) * (1 + t.ttft_margin)) {
    return fmt::format("canary {} TTFT p95 {} ms vs stable {} ms (margin {:.0f}%)", canary_revision,
                       cp, sp, t.ttft_margin * 100);
  }
  return "";
}

void accumulate(RevisionStats& into, const RevisionTraffic& report) {
  into.requests += report.requests;
  into.errors += report.errors;
  if (into.ttft_counts.size() < report.ttft_counts.size())
    into.ttft_counts.resize(report.ttft_counts.size());
  for (size_t i = 0; i < report.ttft_counts.size(); ++i)
    into.ttft_counts[i] += report.ttft_counts[i];
}

}  // namespace gf
