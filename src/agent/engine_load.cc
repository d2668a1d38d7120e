#include "agent/engine_load.h"

#include <cmath>
#include <cstdlib>
#include <string>

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

}  // namespace

std::optional<EngineLoad> parse_engine_load(std::string_view text, const EngineMetricNames& names) {
  if (names.running.empty()) return std::nullopt;
  Sum running, waiting, kv, kv_fallback, prompt, generation;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    // One name per line: the first that matches takes it.
    (void)(take(line, names.running, running) || take(line, names.waiting, waiting) ||
           take(line, names.kv_usage, kv) || take(line, names.kv_usage_fallback, kv_fallback) ||
           take(line, names.prompt_tokens, prompt) ||
           take(line, names.generation_tokens, generation));
  }
  if (running.samples == 0) return std::nullopt;
  EngineLoad load;
  load.running = running.total;
  load.waiting = waiting.total;
  load.kv_cache_usage = kv.samples > 0 ? kv.mean() : kv_fallback.mean();
  load.prompt_tokens = prompt.value();
  load.generation_tokens = generation.value();
  return load;
}

}  // namespace gf
