// Sums what the gateways report per model between two control periods, and turns it into a
// LoadSample: counts become rates over the period, each gateway's latest queue and in-flight
// figures are added up, and a gateway that stopped reporting stops counting (it is unknown, not
// idle).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "autoscale/load_sample.h"
#include "common/traffic_report.h"

namespace gf {

class LoadAccumulator {
 public:
  // A gateway's queue and in-flight figures count for `stale_after` after its report.
  explicit LoadAccumulator(Duration stale_after) : stale_after_(stale_after) {}

  void record(const TrafficReport& report, TimePoint now);
  // The model's load since the last take() for it (or since its first report), and starts a new
  // period. Replica counts are left for the caller.
  LoadSample take(std::string_view model, TimePoint now);
  // Requests waiting for `model` at some gateway now (the scale-from-zero signal).
  double queued(std::string_view model, TimePoint now) const;

 private:
  struct GatewayLoad {
    int64_t queued = 0;
    int64_t in_flight = 0;
    TimePoint at{};
  };
  struct ModelLoad {
    std::optional<TimePoint> period_start;
    bool reported = false;  // some gateway reported this model during the period
    int64_t arrivals = 0;
    int64_t prompt_tokens = 0;
    int64_t output_tokens = 0;
    std::vector<uint64_t> ttft_counts;
    std::vector<uint64_t> tpot_counts;
    std::map<std::string, GatewayLoad, std::less<>> gateways;
  };
  ModelLoad& load_of(std::string_view model, TimePoint now);

  Duration stale_after_;
  std::map<std::string, ModelLoad, std::less<>> models_;
};

}  // namespace gf
