// Splits a model's traffic across its revisions by weight (canary, blue-green) with smooth
// weighted round robin, as nginx's upstream module does: over every window of W = Σ weights
// picks, a revision of weight w gets exactly w of them, interleaved rather than in a burst. A 5%
// canary gets exactly 5 of every 100 requests, not 5% on average with random streaks.
// A revision of weight 0 gets nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gf {

class TrafficSplit {
 public:
  // Weights by revision index (>= 0). Unchanged weights keep the running state, so a routing
  // table refresh does not restart the cycle; changed ones restart it, as nginx does on reload.
  void set_weights(std::vector<int> weights);
  const std::vector<int>& weights() const { return weights_; }

  // The next revision among those with weight > 0 for which `usable(i)` holds (it has a
  // routable replica), or -1 when there is none. Unusable revisions sit out; the others keep
  // their exact ratio among themselves.
  template <class Usable>
  int pick(Usable&& usable) {
    int64_t total = 0;
    int best = -1;
    for (size_t i = 0; i < weights_.size(); ++i) {
      if (weights_[i] <= 0 || !usable(static_cast<int>(i))) continue;
      current_[i] += weights_[i];
      total += weights_[i];
      if (best < 0 || current_[i] > current_[static_cast<size_t>(best)]) best = static_cast<int>(i);
    }
    if (best >= 0) current_[static_cast<size_t>(best)] -= total;
    return best;
  }

 private:
  std::vector<int> weights_;
  std::vector<int64_t> current_;
};

}  // namespace gf
