#include "autoscale/signal_history.h"

namespace gf {

void SignalHistory::add(const LoadSample& s) {
  samples_.push_back(s);
  while (!samples_.empty() && samples_.front().at < s.at - keep_)
    samples_.pop_front();
  if (!s.known) return;  // unknown says nothing about idleness either way
  if (!s.idle()) {
    idle_since_.reset();
  } else if (!idle_since_) {
    idle_since_ = s.at - s.span;
  }
}

std::optional<double> SignalHistory::mean(
    Duration window, TimePoint now, const std::function<double(const LoadSample&)>& value) const {
  return mean_where(window, now, value, nullptr);
}

std::optional<double> SignalHistory::mean_where(
    Duration window, TimePoint now, const std::function<double(const LoadSample&)>& value,
    const std::function<bool(const LoadSample&)>& include) const {
  double sum = 0;
  double weight = 0;
  for (auto it = samples_.rbegin(); it != samples_.rend() && it->at > now - window; ++it) {
    if (!it->known || (include && !include(*it))) continue;
    const double w = std::chrono::duration<double>(it->span).count();
    sum += value(*it) * w;
    weight += w;
  }
  if (weight <= 0) return std::nullopt;
  return sum / weight;
}

WindowLatency SignalHistory::latency(Duration window, TimePoint now) const {
  WindowLatency out;
  const auto merge = [](std::vector<uint64_t>& to, const std::vector<uint64_t>& from) {
    if (to.size() < from.size()) to.resize(from.size(), 0);
    for (size_t i = 0; i < from.size(); ++i)
      to[i] += from[i];
  };
  for (auto it = samples_.rbegin(); it != samples_.rend() && it->at > now - window; ++it) {
    merge(out.ttft, it->ttft_counts);
    merge(out.tpot, it->tpot_counts);
    merge(out.engine_ttft, it->engine_ttft_counts);
    merge(out.engine_queue, it->engine_queue_counts);
  }
  for (uint64_t c : out.ttft)
    out.answers += c;
  for (uint64_t c : out.engine_ttft)
    out.engine_answers += c;
  for (uint64_t c : out.engine_queue)
    out.queue_samples += c;
  return out;
}

}  // namespace gf
