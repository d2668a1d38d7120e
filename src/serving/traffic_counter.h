// Requests, errors and a TTFT histogram per (model, revision) since the last report: what a
// gateway tells the controller for canary analysis; and per model, arrivals, tokens and a
// time-per-output-token histogram: the autoscaler's signals (common/traffic_report.h).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/traffic_report.h"
#include "common/units.h"

namespace gf {

class TrafficCounter {
 public:
  // One answered attempt. Finds its entry without building a string once the pair was seen.
  void count(std::string_view model, std::string_view revision, bool error, Duration first_byte);
  // A request arrived (admitted or queued) with this prompt estimate.
  void arrived(std::string_view model, Tokens prompt);
  // A request ended after it was sent: `tpot` when it generated more than one token.
  void finished(std::string_view model, Tokens output, std::optional<Duration> tpot);
  // Everything counted since the last call, and starts again from zero.
  std::vector<RevisionTraffic> take();
  // The per-model counts since the last call (queued and in_flight left 0), by model.
  std::map<std::string, ReportedDemand, std::less<>> take_demand();

 private:
  // By model, then revision; transparent comparators find an entry by view.
  std::map<std::string, std::map<std::string, RevisionTraffic, std::less<>>, std::less<>> counts_;
  std::map<std::string, ReportedDemand, std::less<>> demand_;
  ReportedDemand& demand_of(std::string_view model);
};

}  // namespace gf
