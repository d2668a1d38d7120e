// Passive outlier ejection, after Envoy's outlier detection: a replica that fails requests in a
// row is taken out of rotation for a while, longer each time it happens again, and comes back
// by itself when the time is up. Passive: it learns only from real requests' outcomes, so it
// reacts within a few requests rather than a probe interval. Pure: the caller passes `now`.
#pragma once

#include <optional>
#include <string>

#include "common/result.h"
#include "common/units.h"

namespace gf {

// How a request sent to a replica ended, as the gateway saw it.
enum class Outcome {
  kSuccess,         // a response that was not 5xx, streamed to the end
  kClientError,     // 4xx: the request's fault, not the replica's; resets the failure counts
  kServerError,     // 5xx from the replica
  kTimeout,         // no response in time: counted as a 5xx (Envoy counts it as a 504)
  kConnectFailure,  // refused, reset or unreachable before any response
  kCancelled,       // the client went away: says nothing about the replica
};

const char* to_string(Outcome o);

struct OutlierConfig {
  int consecutive_5xx = 5;  // 5xx or timeouts in a row (Envoy: consecutive_5xx 5)
  int consecutive_connect_failures =
      5;  // connect failures in a row (Envoy: consecutive_gateway_failure 5)
  Duration base_ejection_time = std::chrono::seconds(30);  // Envoy's default
  Duration max_ejection_time = std::chrono::seconds(300);  // Envoy's default
  // Never more than this share of a model's replicas out at once, rounded down: with 3 replicas
  // and 0.5 only one may be out, and a lone replica is never ejected (it is better to keep
  // trying it than to fail every request). Envoy's default is 10%; a model has few replicas.
  double max_ejected_fraction = 0.5;
  // Each full interval a returned replica goes without being ejected again forgives one past
  // ejection, so a replica that failed once last week is not ejected for 5 minutes today.
  Duration forgiveness_interval = std::chrono::seconds(30);
};

Status validate(const OutlierConfig& config);

// What the detector remembers about one replica.
struct OutlierState {
  int consecutive_5xx = 0;
  int consecutive_connect_failures = 0;
  int ejections = 0;          // drives the ejection time; decays by forgiveness
  TimePoint ejected_until{};  // ejected while now < ejected_until
  TimePoint forgiven_at{};    // when forgiveness was last counted from

  bool ejected(TimePoint now) const { return now < ejected_until; }
};

class OutlierDetector {
 public:
  explicit OutlierDetector(OutlierConfig config = {}) : config_(config) {}

  struct Verdict {
    bool ejected = false;
    std::string reason;  // why it was or was not ejected, for the event log; empty = no news
  };

  // Records one outcome. `ejected_now`: replicas of the model ejected at `now`, `replicas`:
  // replicas of the model; they enforce max_ejected_fraction. Outcomes of requests that finish
  // while the replica is already ejected are ignored: they were sent before the ejection.
  Verdict record(OutlierState& s, Outcome outcome, TimePoint now, int ejected_now,
                 int replicas) const;

  // The ejection time for a replica ejected for the n-th time (n >= 1): base × n, capped.
  Duration ejection_time(int n) const;

  const OutlierConfig& config() const { return config_; }

 private:
  OutlierConfig config_;
};

}  // namespace gf
