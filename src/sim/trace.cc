#include "sim/trace.h"

#include <algorithm>

#include <fmt/format.h>

namespace gf {

bool sort_by_arrival(std::vector<TraceRequest>& requests) {
  const auto earlier = [](const TraceRequest& a, const TraceRequest& b) {
    return a.arrival < b.arrival;
  };
  if (std::is_sorted(requests.begin(), requests.end(), earlier)) return false;
  std::stable_sort(requests.begin(), requests.end(), earlier);
  return true;
}

int64_t nearest_rank(const std::vector<int64_t>& sorted, int percent) {
  if (sorted.empty()) return 0;
  percent = std::clamp(percent, 1, 100);
  // rank = ceil(percent / 100 * n), in integers so that no rounding moves it by one.
  const size_t n = sorted.size();
  const size_t rank = (static_cast<size_t>(percent) * n + 99) / 100;
  return sorted[std::max<size_t>(rank, 1) - 1];
}

namespace {

TokenStats token_stats(std::vector<int64_t> values) {
  TokenStats s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (int64_t v : values)
    sum += static_cast<double>(v);
  s.mean = sum / static_cast<double>(values.size());
  s.p50 = Tokens(nearest_rank(values, 50));
  s.p99 = Tokens(nearest_rank(values, 99));
  s.max = Tokens(values.back());
  return s;
}

double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

TraceStats summarize(const Trace& trace, Duration window) {
  TraceStats s;
  const auto& reqs = trace.requests;
  s.requests = reqs.size();
  s.window = window;
  if (reqs.empty() || window <= Duration::zero()) return s;

  const Duration first = reqs.front().arrival;
  s.duration = reqs.back().arrival - first;
  const int64_t windows = s.duration / window;
  s.full_windows = static_cast<int>(windows);
  if (windows == 0) {
    const double span = seconds(s.duration);
    s.mean_rps = s.peak_rps = span > 0 ? static_cast<double>(reqs.size()) / span : 0;
  } else {
    std::vector<int64_t> counts(static_cast<size_t>(windows), 0);
    for (const TraceRequest& r : reqs) {
      const int64_t w = (r.arrival - first) / window;
      if (w < windows) ++counts[static_cast<size_t>(w)];
    }
    int64_t total = 0, busiest = 0;
    for (int64_t c : counts) {
      total += c;
      busiest = std::max(busiest, c);
    }
    const double w = seconds(window);
    s.mean_rps = static_cast<double>(total) / static_cast<double>(windows) / w;
    s.peak_rps = static_cast<double>(busiest) / w;
  }

  std::vector<int64_t> prompts, outputs;
  prompts.reserve(reqs.size());
  outputs.reserve(reqs.size());
  for (const TraceRequest& r : reqs) {
    prompts.push_back(r.prompt.value);
    outputs.push_back(r.output.value);
  }
  s.prompt = token_stats(std::move(prompts));
  s.output = token_stats(std::move(outputs));
  return s;
}

std::string describe(const Trace& trace, const TraceStats& s) {
  return fmt::format(
      "{}: {} requests over {:.1f} min, {:.2f} rps mean, {:.2f} peak ({}); "
      "prompt tokens mean {:.1f} p50 {} p99 {}; output tokens mean {:.1f} p50 {} p99 {}",
      trace.name, s.requests, seconds(s.duration) / 60.0, s.mean_rps, s.peak_rps,
      s.full_windows > 0
          ? fmt::format("{} full {} windows", s.full_windows, format_duration(s.window))
          : std::string("over the whole trace, shorter than one window"),
      s.prompt.mean, s.prompt.p50.value, s.prompt.p99.value, s.output.mean, s.output.p50.value,
      s.output.p99.value);
}

}  // namespace gf
