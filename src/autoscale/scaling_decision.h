// One control period's verdict for one deployment: the replica count before and after, the rule
// that fired and why, with the signals it saw. Kept as an event and shown by the API.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "autoscale/load_sample.h"

namespace gf {

struct ScalingDecision {
  TimePoint at{};
  std::string deployment;
  std::string policy;
  int from = 0;
  int to = 0;
  std::string rule;    // "proportional", "panic", "scale from zero", "no signal" ...
  std::string reason;  // with the numbers
  std::optional<double> forecast;
  LoadSample load;
  // Scale-ups that became Ready replicas in this period: how long each took from its decision.
  std::vector<Duration> scale_up_to_ready;

  bool changed() const { return from != to; }
};

}  // namespace gf
