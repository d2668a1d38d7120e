// Canary judgement: whether a canary revision serves worse than the stable one it shares traffic
// with, from the gateways' per-revision counts. Pure functions over RevisionStats.
#pragma once

#include <cstdint>
#include <string>

#include "common/traffic_report.h"
#include "fleet/records.h"

namespace gf {

// Once both revisions have served min_requests, the canary is judged worse when its error rate
// exceeds the stable one's by more than error_margin (absolute) with at least min_errors errors,
// or its TTFT p95 exceeds the stable one's by more than ttft_margin (relative). The minimums are
// small on purpose: gateways eject a failing replica after 5 errors in a row, so a broken canary
// stops getting traffic almost at once; the error count keeps a single unlucky error from rolling
// back a healthy one.
struct CanaryThresholds {
  int64_t min_requests = 5;
  int64_t min_errors = 3;
  double error_margin = 0.05;
  double ttft_margin = 0.25;
};

// Why `canary` is worse than `stable`, in words for the event log, or "" while it is not (or
// not known yet).
std::string canary_verdict(const std::string& canary_revision, const RevisionStats& canary,
                           const RevisionStats& stable, const CanaryThresholds& t);

// Adds one gateway report's counts for a revision.
void accumulate(RevisionStats& into, const RevisionTraffic& report);

}  // namespace gf
