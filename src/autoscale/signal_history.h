// The recent load samples of one deployment, newest last, and the averages the policies read.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "autoscale/load_sample.h"

namespace gf {

// The answers of a window by latency bucket (common/traffic_report.h bounds), merged over its
// samples: a percentile of the whole window, not one period's handful.
struct WindowLatency {
  std::vector<uint64_t> ttft;
  std::vector<uint64_t> tpot;
  uint64_t answers = 0;  // in the TTFT histogram
  // The engines' own TTFT and queue time (LoadSample::engine_ttft_counts, engine_queue_counts)
  // and how many requests each counts; 0 when no engine reports it.
  std::vector<uint64_t> engine_ttft;
  std::vector<uint64_t> engine_queue;
  uint64_t engine_answers = 0;
  uint64_t queue_samples = 0;
};

class SignalHistory {
 public:
  // Keeps samples younger than `keep` (the longest window any policy reads).
  explicit SignalHistory(Duration keep) : keep_(keep) {}
  // From now on keeps samples younger than `keep` (a longer span keeps what is already there).
  void keep(Duration keep) { keep_ = keep; }

  void add(const LoadSample& s);
  const std::deque<LoadSample>& samples() const { return samples_; }
  const LoadSample* last() const { return samples_.empty() ? nullptr : &samples_.back(); }
  // The sample add() just kept, for its scaler to weigh by the window it now ends (the work
  // metric, DeploymentScaler::step). Only after an add().
  LoadSample& newest() { return samples_.back(); }

  // The mean of `value` over the known samples of the last `window` before `now`, weighted by
  // their spans; nullopt when none is known.
  std::optional<double> mean(Duration window, TimePoint now,
                             const std::function<double(const LoadSample&)>& value) const;
  // The same over the known samples that `include` accepts only.
  std::optional<double> mean_where(Duration window, TimePoint now,
                                   const std::function<double(const LoadSample&)>& value,
                                   const std::function<bool(const LoadSample&)>& include) const;
  WindowLatency latency(Duration window, TimePoint now) const;
  // Since when every known sample was idle (no arrivals, nothing queued or in flight); nullopt
  // when the newest known sample was not idle.
  std::optional<TimePoint> idle_since() const { return idle_since_; }

 private:
  Duration keep_;
  std::deque<LoadSample> samples_;
  std::optional<TimePoint> idle_since_;
};

}  // namespace gf
