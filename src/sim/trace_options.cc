#include "sim/trace_options.h"

#include <charconv>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "common/rng.h"

namespace gf {

namespace {

Error invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ')
    s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ')
    s.remove_suffix(1);
  return s;
}

double minutes(Duration d) {
  return std::chrono::duration<double>(d).count() / 60.0;
}

// Assigns one of `names` to each request through `set`.
template <class Set>
void assign(std::vector<TraceRequest>& requests, const std::vector<WeightedName>& names,
            NameMapping mapping, uint64_t seed, Set set) {
  double total = 0;
  for (const WeightedName& n : names)
    total += n.weight;
  if (mapping == NameMapping::kRandom) {
    Rng rng(seed);
    for (TraceRequest& r : requests) {
      // Walks the cumulative weights; the last name takes any rounding remainder.
      double x = rng.uniform01() * total;
      size_t pick = names.size() - 1;
      for (size_t i = 0; i + 1 < names.size(); ++i) {
        if (x < names[i].weight) {
          pick = i;
          break;
        }
        x -= names[i].weight;
      }
      set(r, names[pick].name);
    }
    return;
  }
  // Smooth weighted round-robin: every step each name gains its weight, the richest is picked and
  // pays the total. Ties go to the earlier name, so the order is fixed.
  std::vector<double> current(names.size(), 0.0);
  for (TraceRequest& r : requests) {
    size_t best = 0;
    for (size_t i = 0; i < names.size(); ++i) {
      current[i] += names[i].weight;
      if (current[i] > current[best]) best = i;
    }
    current[best] -= total;
    set(r, names[best].name);
  }
}

Status check_names(const std::vector<WeightedName>& names, const char* what) {
  std::set<std::string_view> seen;
  for (const WeightedName& n : names) {
    if (n.name.empty()) return invalid(fmt::format("{}: an entry has no name", what));
    if (!(n.weight > 0) || !std::isfinite(n.weight))
      return invalid(fmt::format("{}: {} has weight {}; weights must be positive numbers", what,
                                 n.name, n.weight));
    if (!seen.insert(n.name).second)
      return invalid(fmt::format("{}: {} is listed twice", what, n.name));
  }
  return {};
}

}  // namespace

Result<std::vector<WeightedName>> parse_weighted_names(std::string_view text) {
  std::vector<WeightedName> out;
  size_t i = 0;
  while (i <= text.size()) {
    const size_t comma = std::min(text.find(',', i), text.size());
    const std::string_view entry = trim(text.substr(i, comma - i));
    i = comma + 1;
    if (entry.empty())
      return invalid(fmt::format("\"{}\": an empty entry; write name=weight,name=weight", text));
    WeightedName w;
    const size_t eq = entry.find('=');
    w.name = std::string(trim(entry.substr(0, eq)));
    if (eq != std::string_view::npos) {
      const std::string_view num = trim(entry.substr(eq + 1));
      const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), w.weight);
      if (num.empty() || ec != std::errc() || end != num.data() + num.size())
        return invalid(fmt::format("\"{}\": the weight of {} is not a number", entry, w.name));
    }
    out.push_back(std::move(w));
  }
  if (auto st = check_names(out, "names"); !st) return st.error();
  return out;
}

Result<Trace> apply_trace_options(Trace trace, const TraceOptions& o) {
  if (!(o.rate_scale > 0) || !std::isfinite(o.rate_scale))
    return invalid(fmt::format("rate scale {}: must be a positive number (2 replays twice as fast)",
                               o.rate_scale));
  if (o.start < Duration::zero())
    return invalid(fmt::format("window start {}: must not be negative", format_duration(o.start)));
  if (o.length && *o.length <= Duration::zero())
    return invalid(fmt::format("window length {}: must be positive", format_duration(*o.length)));
  if (auto st = check_names(o.models, "models"); !st) return st.error();
  if (auto st = check_names(o.tenants, "tenants"); !st) return st.error();

  auto& reqs = trace.requests;
  if (o.start > Duration::zero() || o.length) {
    const Duration span = reqs.empty() ? Duration::zero() : reqs.back().arrival;
    std::vector<TraceRequest> kept;
    for (TraceRequest& r : reqs) {
      if (r.arrival < o.start) continue;
      if (o.length && r.arrival - o.start >= *o.length) break;
      r.arrival -= o.start;
      kept.push_back(std::move(r));
    }
    if (kept.empty())
      return invalid(fmt::format(
          "the window from {} for {} holds no request of {}, whose requests arrive from 0 to "
          "{:.1f} min",
          format_duration(o.start), o.length ? format_duration(*o.length) : "the rest", trace.name,
          minutes(span)));
    reqs = std::move(kept);
  }

  if (o.rate_scale != 1.0) {
    // Division by a positive constant, rounded, never reorders arrivals.
    for (TraceRequest& r : reqs)
      r.arrival = Duration(std::llround(static_cast<double>(r.arrival.count()) / o.rate_scale));
  }

  if (!o.models.empty())
    assign(reqs, o.models, o.mapping, o.seed,
           [](TraceRequest& r, const std::string& n) { r.model = n; });
  if (!o.tenants.empty())
    // A second stream: splitmix64 spreads seed + 1 to an unrelated state.
    assign(reqs, o.tenants, o.mapping, o.seed + 1,
           [](TraceRequest& r, const std::string& n) { r.tenant = n; });
  return trace;
}

}  // namespace gf
