// The classic threshold rule's predictor: the mean of the last N observations plus their
// least-squares slope, extrapolated ahead (never below zero).
#pragma once

#include <deque>

namespace gf {

class LinearTrend {
 public:
  explicit LinearTrend(int window) : window_(window < 2 ? 2 : window) {}
  int window() const { return window_; }
  void observe(double value);
  // The fitted line at `periods_ahead` past the newest observation; 0 before any.
  double forecast(int periods_ahead) const;

 private:
  int window_;
  std::deque<double> values_;
};

}  // namespace gf
