#include "routing/outlier_detector.h"

#include <algorithm>
#include <cmath>

namespace gf {

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::kSuccess:
      return "success";
    case Outcome::kClientError:
      return "client error";
    case Outcome::kServerError:
      return "5xx";
    case Outcome::kTimeout:
      return "timeout";
    case Outcome::kConnectFailure:
      return "connect failure";
    case Outcome::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

Status validate(const OutlierConfig& c) {
  auto bad = [](std::string what) {
    return make_error(ErrorCode::kInvalidArgument, "outlier detection: " + std::move(what));
  };
  if (c.consecutive_5xx < 1 || c.consecutive_connect_failures < 1)
    return bad("consecutive failure thresholds must be at least 1");
  if (c.base_ejection_time <= Duration::zero()) return bad("base ejection time must be positive");
  if (c.max_ejection_time < c.base_ejection_time)
    return bad("max ejection time must be at least the base ejection time");
  if (!(c.max_ejected_fraction >= 0.0 && c.max_ejected_fraction <= 1.0))
    return bad("max ejected fraction must be within [0, 1]");
  if (c.forgiveness_interval <= Duration::zero())
    return bad("forgiveness interval must be positive");
  return {};
}

Duration OutlierDetector::ejection_time(int n) const {
  const int64_t k = std::max(n, 1);
  const Duration base = config_.base_ejection_time;
  if (base.count() > config_.max_ejection_time.count() / k) return config_.max_ejection_time;
  return std::min(base * k, config_.max_ejection_time);
}

OutlierDetector::Verdict OutlierDetector::record(OutlierState& s, Outcome outcome, TimePoint now,
                                                 int ejected_now, int replicas) const {
  if (s.ejected(now)) return {};
  // Forgive past ejections for the time served well since the last return (or forgiveness).
  if (s.ejections > 0 && now > s.forgiven_at) {
    const int64_t intervals = (now - s.forgiven_at) / config_.forgiveness_interval;
    if (intervals > 0) {
      s.ejections = static_cast<int>(std::max<int64_t>(0, s.ejections - intervals));
      s.forgiven_at += config_.forgiveness_interval * intervals;
    }
  }
  const char* cause = nullptr;
  int count = 0;
  int threshold = 0;
  switch (outcome) {
    case Outcome::kSuccess:
    case Outcome::kClientError:
      s.consecutive_5xx = 0;
      s.consecutive_connect_failures = 0;
      return {};
    case Outcome::kCancelled:
      return {};
    case Outcome::kServerError:
    case Outcome::kTimeout:
      count = ++s.consecutive_5xx;
      threshold = config_.consecutive_5xx;
      if (count < threshold) return {};
      cause = "5xx or timeouts";
      break;
    case Outcome::kConnectFailure:
      count = ++s.consecutive_connect_failures;
      threshold = config_.consecutive_connect_failures;
      if (count < threshold) return {};
      cause = "connect failures";
      break;
  }
  const int allowed = static_cast<int>(
      std::floor(config_.max_ejected_fraction * static_cast<double>(replicas) + 1e-9));
  if (ejected_now + 1 > allowed) {
    // Keep counting: it is ejected on its next failure once others have returned. Say so only
    // when the threshold is first crossed, not on every failure after.
    Verdict v;
    if (count == threshold)
      v.reason = std::to_string(count) + " consecutive " + cause +
                 ", not ejected: " + std::to_string(ejected_now) + " of " +
                 std::to_string(replicas) + " replicas already ejected (max " +
                 std::to_string(static_cast<int>(std::lround(config_.max_ejected_fraction * 100))) +
                 "%)";
    return v;
  }
  ++s.ejections;
  const Duration t = ejection_time(s.ejections);
  s.ejected_until = now + t;
  s.forgiven_at = s.ejected_until;
  s.consecutive_5xx = 0;
  s.consecutive_connect_failures = 0;
  return Verdict{true, "ejected for " + format_duration(t) + " after " + std::to_string(count) +
                           " consecutive " + cause + " (ejection " + std::to_string(s.ejections) +
                           ")"};
}

}  // namespace gf
