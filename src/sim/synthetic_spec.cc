#include "sim/synthetic_spec.h"

#include <fmt/format.h>

#include <charconv>
#include <map>
#include <set>
#include <string>

namespace gf {
namespace {

Error invalid(const std::string& what) {
  return Error{ErrorCode::kInvalidArgument, "--synthetic: " + what};
}

const std::map<std::string, std::set<std::string>, std::less<>> kKeys = {
    {"poisson", {"rps"}},
    {"diurnal", {"mean", "amplitude", "period", "phase"}},
    {"burst", {"on", "off", "on_for", "off_for"}},
    {"step", {"before", "after", "at"}},
};
const std::set<std::string> kCommon = {"length", "prompt", "output", "sigma"};

}  // namespace

Result<SyntheticSpec> parse_synthetic_spec(std::string_view text, uint64_t seed) {
  const size_t colon = text.find(':');
  const std::string kind(text.substr(0, colon));
  auto k = kKeys.find(kind);
  if (k == kKeys.end())
    return invalid(
        fmt::format("unknown kind \"{}\" (known: burst, diurnal, poisson, step; e.g. "
                    "poisson:rps=5)",
                    kind));
  std::map<std::string, std::string> values;
  if (colon != std::string_view::npos) {
    std::string_view rest = text.substr(colon + 1);
    while (!rest.empty()) {
      const size_t comma = std::min(rest.find(','), rest.size());
      const std::string_view entry = rest.substr(0, comma);
      rest = comma < rest.size() ? rest.substr(comma + 1) : std::string_view{};
      const size_t eq = entry.find('=');
      if (eq == std::string_view::npos)
        return invalid(fmt::format("\"{}\": expected key=value", entry));
      const std::string key(entry.substr(0, eq));
      if (!k->second.count(key) && !kCommon.count(key))
        return invalid(fmt::format("{}: unknown key \"{}\" (known: {}, {})", kind, key,
                                   fmt::join(k->second, ", "), fmt::join(kCommon, ", ")));
      values[key] = std::string(entry.substr(eq + 1));
    }
  }
  // Reads a number or a duration; absent: the default.
  std::string problem;
  const auto number = [&](const char* key, double def) {
    auto it = values.find(key);
    if (it == values.end()) return def;
    double v = 0;
    const auto [end, ec] =
        std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    if (ec != std::errc() || end != it->second.data() + it->second.size())
      problem = fmt::format("{}={}: not a number", key, it->second);
    return v;
  };
  const auto duration = [&](const char* key, Duration def) {
    auto it = values.find(key);
    if (it == values.end()) return def;
    auto d = parse_duration(it->second);
    if (!d) {
      problem = fmt::format("{}={}: {}", key, it->second, d.error().message);
      return def;
    }
    return *d;
  };
  const auto required = [&](const char* key) {
    if (!values.count(key) && problem.empty())
      problem = fmt::format("{} needs {}= (e.g. {}:{}=5)", kind, key, kind, key);
    return number(key, 0);
  };
  SyntheticSpec spec;
  spec.name = "synthetic-" + kind;
  spec.seed = seed;
  if (kind == "poisson") {
    spec.arrivals = PoissonArrivals{required("rps")};
  } else if (kind == "diurnal") {
    spec.arrivals = DiurnalArrivals{required("mean"), number("amplitude", 0.5),
                                    duration("period", std::chrono::hours(24)),
                                    duration("phase", Duration::zero())};
  } else if (kind == "burst") {
    spec.arrivals = BurstArrivals{required("on"), number("off", 0),
                                  duration("on_for", std::chrono::seconds(10)),
                                  duration("off_for", std::chrono::seconds(50))};
  } else {
    spec.arrivals = StepArrivals{required("before"), required("after"),
                                 duration("at", std::chrono::minutes(5))};
  }
  spec.length = duration("length", std::chrono::minutes(10));
  LognormalSizes sizes;
  sizes.prompt_mean = Tokens(static_cast<int64_t>(number("prompt", 1024)));
  sizes.output_mean = Tokens(static_cast<int64_t>(number("output", 256)));
  sizes.prompt_sigma = sizes.output_sigma = number("sigma", 1.0);
  spec.sizes = sizes;
  if (!problem.empty()) return invalid(problem);
  return spec;
}

}  // namespace gf
