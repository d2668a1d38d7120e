#include "routing/traffic_split.h"

#include <algorithm>

namespace gf {

void TrafficSplit::set_weights(std::vector<int> weights) {
  if (weights == weights_) return;
  weights_ = std::move(weights);
  current_.assign(weights_.size(), 0);
}

}  // namespace gf
