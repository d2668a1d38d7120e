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

}  // namespace

std::optional<EngineLoad> parse_engine_load(std::string_view text, const EngineMetricNames& names) {
  if (names.running.empty()) return std::nullopt;
  EngineLoad load;
  bool found = false;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    if (auto v = sample_of(line, names.running)) {
      load.running += *v;
      found = true;
    } else if (!names.waiting.empty()) {
      if (auto w = sample_of(line, names.waiting)) load.waiting += *w;
    }
  }
  if (!found) return std::nullopt;
  return load;
}

}  // namespace gf
