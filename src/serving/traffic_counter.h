// Requests, errors and a TTFT histogram per (model, revision) since the last report: what a
// gateway tells the controller for canary analysis (common/traffic_report.h).
#pragma once

#include <functional>
#include <map>
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
  // Everything counted since the last call, and starts again from zero.
  std::vector<RevisionTraffic> take();

 private:
  // By model, then revision; transparent comparators find an entry by view.
  std::map<std::string, std::map<std::string, RevisionTraffic, std::less<>>, std::less<>> counts_;
};

}  // namespace gf
