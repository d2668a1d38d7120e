#include "agent/engine_load.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <string>

#include "common/traffic_report.h"

namespace gf {

namespace {

// The value of a sample line "NAME{labels} VALUE [timestamp]" or "NAME VALUE" when it is `name`'s.
std::optional<double> sample_of(std::string_view line, std::string_view name) {
  if (line.size() <= name.size() || line.substr(0, name.size()) != name) return std::nullopt;
  std::string_view rest = line.substr(name.size());
  if (rest.front() == '{') {
    // Label values may hold '}' inside quotes; the last '}' closes the label set.
    size_t close = rest.rfind('}');
    if (close == std::string_view::npos) return std::nullopt;
    rest = rest.substr(close + 1);
  } else if (rest.front() != ' ' && rest.front() != '\t') {
    return std::nullopt;  // a longer name with this one as its prefix
  }
  size_t start = rest.find_first_not_of(" \t");
  if (start == std::string_view::npos) return std::nullopt;
  rest = rest.substr(start);
  std::string value(rest.substr(0, rest.find_first_of(" \t\r")));
  // A NaN or Inf gauge says nothing about the load: treated as absent.
  char* end = nullptr;
  double v = std::strtod(value.c_str(), &end);
  if (end != value.c_str() + value.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// Adds up one metric's samples over its label sets.
struct Sum {
  double total = 0;
  int samples = 0;
  void add(double v) {
    total += v;
    ++samples;
  }
  std::optional<double> value() const {
    return samples > 0 ? std::optional<double>(total) : std::nullopt;
  }
  std::optional<double> mean() const {
    return samples > 0 ? std::optional<double>(total / samples) : std::nullopt;
  }
};

// Adds the line's sample to `sum` when it is `name`'s; false when it is not.
bool take(std::string_view line, const std::string& name, Sum& sum) {
  if (name.empty()) return false;
  auto v = sample_of(line, name);
  if (!v) return false;
  sum.add(*v);
  return true;
}

// A histogram's cumulative buckets by series (its labels other than `le`), then by upper bound.
using Buckets = std::map<std::string, std::map<double, double>, std::less<>>;

// Takes a histogram bucket line "NAME_bucket{...,le="0.25",...} VALUE" when it is
// `bucket_name`'s; false when it is not. A bucket whose bound cannot be read is skipped.
bool take_bucket(std::string_view line, const std::string& bucket_name, Buckets& buckets) {
  if (bucket_name.empty()) return false;
  auto v = sample_of(line, bucket_name);
  if (!v) return false;
  size_t at = line.find("le=\"", bucket_name.size());
  if (at == std::string_view::npos) return true;
  size_t end = line.find('"', at + 4);
  if (end == std::string_view::npos) return true;
  std::string text(line.substr(at + 4, end - at - 4));
  char* stop = nullptr;
  double le = std::strtod(text.c_str(), &stop);
  if (stop != text.c_str() + text.size() || std::isnan(le) || le < 0) return true;
  std::string series(line.substr(bucket_name.size(), line.rfind('}') + 1 - bucket_name.size()));
  series.erase(at - bucket_name.size(), end + 1 - at);  // the labels without le="..."
  buckets[series][le] = *v;
  return true;
}

// Each series' cumulative buckets (seconds) to counts in kTtftBoundsMs's buckets, summed. Series
// are taken one by one: two label sets need not share their bounds.
std::vector<uint64_t> rebucket_ttft(const Buckets& buckets) {
  std::vector<uint64_t> out(kTtftBoundsMs.size() + 1, 0);
  for (const auto& [series, cumulative] : buckets) {
    double below = 0;
    for (const auto& [le, total] : cumulative) {
      const double in = std::max(0.0, total - below);
      below = std::max(below, total);
      out[ttft_bucket_of_bound(le)] += static_cast<uint64_t>(std::llround(in));
    }
  }
  return out;
}

}  // namespace

std::optional<EngineLoad> parse_engine_load(std::string_view text, const EngineMetricNames& names) {
  if (names.running.empty()) return std::nullopt;
  Sum running, waiting, kv, kv_fallback, prompt, generation;
  const std::string ttft_bucket_name = names.ttft.empty() ? "" : names.ttft + "_bucket";
  const std::string queue_bucket_name =
      names.queue_time.empty() ? "" : names.queue_time + "_bucket";
  Buckets ttft, queue;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    // One name per line: the first that matches takes it.
    (void)(take(line, names.running, running) || take(line, names.waiting, waiting) ||
           take(line, names.kv_usage, kv) || take(line, names.kv_usage_fallback, kv_fallback) ||
           take(line, names.prompt_tokens, prompt) ||
           take(line, names.generation_tokens, generation) ||
           take_bucket(line, ttft_bucket_name, ttft) ||
           take_bucket(line, queue_bucket_name, queue));
  }
  if (running.samples == 0) return std::nullopt;
  EngineLoad load;
  load.running = running.total;
  load.waiting = waiting.total;
  load.kv_cache_usage = kv.samples > 0 ? kv.mean() : kv_fallback.mean();
  load.prompt_tokens = prompt.value();
  load.generation_tokens = generation.value();
  if (!ttft.empty()) load.ttft_counts = rebucket_ttft(ttft);
  if (!queue.empty()) load.queue_counts = rebucket_ttft(queue);
  return load;
}

}  // namespace gf
