#include "common/io/manifest.h"

#include "common/gpu_catalog.h"

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>

#include "common/plugin_registry.h"

namespace gf {
namespace {

constexpr std::string_view kApiVersion = "gpufleet/v1";

// Where diagnostics go while one file is read. Both the diagnostics and the work are bounded:
// YAML aliases can make a small file expand to billions of list items ("billion laughs").
class Ctx {
 public:
  Ctx(std::string file, std::vector<Diagnostic>& out, const ExtensionNames& names,
      ParseLimits limits)
      : file_(std::move(file)), out_(out), names_(names), limits_(limits) {}

  // The plugin and policy names manifests may use (extension_names.h says who provides them).
  const ExtensionNames& names() const { return names_; }

  void error(const YAML::Mark& mark, const std::string& path, std::string message) {
    if (out_.size() >= limits_.max_diagnostics) {
      ++suppressed_;
      return;
    }
    Diagnostic d;
    d.file = file_;
    // yaml-cpp marks are 0-based and -1 for nodes that do not exist.
    d.line = mark.line >= 0 ? mark.line + 1 : 0;
    d.column = mark.column >= 0 ? mark.column + 1 : 0;
    d.path = path;
    d.message = std::move(message);
    out_.push_back(std::move(d));
  }
  void error(const YAML::Node& at, const std::string& path, std::string message) {
    error(at.IsDefined() ? at.Mark() : YAML::Mark::null_mark(), path, std::move(message));
  }

  // Counts one list item; false once the file has used its budget (reported once), or once the
  // diagnostics are full: the result is invalid anyway, so walking on only burns time.
  bool spend(const YAML::Node& at, const std::string& path) {
    if (out_.size() >= limits_.max_diagnostics) return false;
    if (++items_ <= limits_.max_items) return true;
    if (items_ == limits_.max_items + 1) {
      error(at, path,
            fmt::format("more than {} list items in one file (do YAML aliases expand it?)",
                        limits_.max_items));
    }
    return false;
  }

  // Appends the count of diagnostics that were not kept.
  void finish() {
    if (suppressed_ > 0) {
      Diagnostic d;
      d.file = file_;
      d.message = fmt::format("... and {} more problems not shown", suppressed_);
      out_.push_back(std::move(d));
    }
  }

 private:
  std::string file_;
  std::vector<Diagnostic>& out_;
  const ExtensionNames& names_;
  ParseLimits limits_;
  size_t suppressed_ = 0;
  size_t items_ = 0;
};

std::string join_path(const std::string& base, std::string_view key) {
  return base.empty() ? std::string(key) : base + "." + std::string(key);
}
std::string index_path(const std::string& base, size_t i) {
  return fmt::format("{}[{}]", base, i);
}

const char* kind_of(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "null";
    default:
      return "nothing";
  }
}

// Reads a YAML map field by field. Every field the reader asks for counts as known; on destruction
// any other key is reported as unknown, and a key that appears twice as duplicate.
class MapReader {
 public:
  MapReader(Ctx& ctx, const YAML::Node& node, std::string path)
      : ctx_(ctx), node_(node), path_(std::move(path)) {
    valid_ = node.IsMap();
    if (!valid_) ctx_.error(node, path_, fmt::format("expected a map, got {}", kind_of(node)));
  }
  MapReader(const MapReader&) = delete;
  MapReader& operator=(const MapReader&) = delete;
  ~MapReader() { finish(); }

  bool valid() const { return valid_; }
  std::string path(std::string_view key) const { return join_path(path_, key); }

  // The value under `key`, or an undefined node.
  YAML::Node get(std::string_view key) {
    known_.emplace_back(key);
    if (!valid_) return YAML::Node(YAML::NodeType::Undefined);
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
    }
    return YAML::Node(YAML::NodeType::Undefined);
  }

  YAML::Node require(std::string_view key) {
    YAML::Node n = get(key);
    if (valid_ && !n.IsDefined()) {
      ctx_.error(node_, path(key), fmt::format("missing required field \"{}\"", key));
    }
    return n;
  }

 private:
  void finish() {
    if (!valid_) return;
    std::set<std::string> seen;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      if (!it->first.IsScalar()) {
        ctx_.error(it->first, path_, "map keys must be plain strings");
        continue;
      }
      const std::string& key = it->first.Scalar();
      if (!seen.insert(key).second) {
        ctx_.error(it->first, path(key), fmt::format("duplicate field \"{}\"", key));
        continue;
      }
      if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
        std::string expected;
        for (const auto& k : known_)
          expected += (expected.empty() ? "" : ", ") + k;
        ctx_.error(it->first, path(key),
                   fmt::format("unknown field \"{}\" (expected one of: {})", key, expected));
      }
    }
  }

  Ctx& ctx_;
  YAML::Node node_;
  std::string path_;
  bool valid_ = false;
  std::vector<std::string> known_;
};

// ---- scalar readers: each returns nullopt after reporting why ---------------------------------

bool is_quoted(const YAML::Node& n) {
  return n.Tag() == "!";
}

std::optional<std::string> read_string(Ctx& ctx, const YAML::Node& n, const std::string& path) {
  if (!n.IsScalar()) {
    ctx.error(n, path, fmt::format("expected a string, got {}", kind_of(n)));
    return std::nullopt;
  }
  if (n.Scalar().empty()) {
    ctx.error(n, path, "must not be empty");
    return std::nullopt;
  }
  return n.Scalar();
}

// Lowercase letters, digits and '-' '.', starting and ending alphanumeric, at most 63 characters:
// names end up in metric labels, URLs and file names.
std::optional<std::string> read_name(Ctx& ctx, const YAML::Node& n, const std::string& path) {
  auto s = read_string(ctx, n, path);
  if (!s) return std::nullopt;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool ok =
      s->size() <= 63 && alnum(s->front()) && alnum(s->back()) &&
      std::all_of(s->begin(), s->end(), [&](char c) { return alnum(c) || c == '-' || c == '.'; });
  if (!ok) {
    ctx.error(n, path,
              fmt::format("invalid name \"{}\": use at most 63 lowercase letters, digits, '-' or "
                          "'.', starting and ending with a letter or digit",
                          *s));
    return std::nullopt;
  }
  return s;
}

std::optional<int64_t> read_int(Ctx& ctx, const YAML::Node& n, const std::string& path, int64_t lo,
                                int64_t hi) {
  if (!n.IsScalar() || is_quoted(n)) {
    ctx.error(
        n, path,
        fmt::format("expected an integer, got {}", is_quoted(n) ? "a quoted string" : kind_of(n)));
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    ctx.error(n, path, fmt::format("expected an integer, got \"{}\"", s));
    return std::nullopt;
  }
  if (v < lo || v > hi) {
    ctx.error(n, path, fmt::format("{} is out of range [{}, {}]", v, lo, hi));
    return std::nullopt;
  }
  return v;
}

std::optional<int> read_int32(Ctx& ctx, const YAML::Node& n, const std::string& path, int lo,
                              int hi) {
  auto v = read_int(ctx, n, path, lo, hi);
  if (!v) return std::nullopt;
  return static_cast<int>(*v);
}

std::optional<double> read_double(Ctx& ctx, const YAML::Node& n, const std::string& path, double lo,
                                  double hi) {
  if (!n.IsScalar() || is_quoted(n)) {
    ctx.error(
        n, path,
        fmt::format("expected a number, got {}", is_quoted(n) ? "a quoted string" : kind_of(n)));
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !(v == v)) {
    ctx.error(n, path, fmt::format("expected a number, got \"{}\"", s));
    return std::nullopt;
  }
  if (v < lo || v > hi) {
    ctx.error(n, path, fmt::format("{} is out of range [{}, {}]", s, lo, hi));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> read_bool(Ctx& ctx, const YAML::Node& n, const std::string& path) {
  if (n.IsScalar() && !is_quoted(n)) {
    if (n.Scalar() == "true") return true;
    if (n.Scalar() == "false") return false;
  }
  ctx.error(n, path, "expected true or false");
  return std::nullopt;
}

// Runs one of the units.h parsers on a scalar and reports its message at the node.
template <class T>
std::optional<T> read_unit(Ctx& ctx, const YAML::Node& n, const std::string& path,
                           Result<T> (*parse)(std::string_view)) {
  if (!n.IsScalar()) {
    ctx.error(n, path,
              fmt::format("expected a string such as \"80GiB\" or \"500ms\", got {}", kind_of(n)));
    return std::nullopt;
  }
  auto r = parse(n.Scalar());
  if (!r) {
    ctx.error(n, path, r.error().message);
    return std::nullopt;
  }
  return *r;
}

std::optional<MiB> read_memory(Ctx& ctx, const YAML::Node& n, const std::string& path) {
  auto b = read_unit<Bytes>(ctx, n, path, parse_bytes);
  if (!b) return std::nullopt;
  MiB m = to_mib_floor(*b);
  if (m.value <= 0) {
    ctx.error(n, path, fmt::format("memory must be at least 1MiB, got \"{}\"", n.Scalar()));
    return std::nullopt;
  }
  return m;
}

template <class E>
std::optional<E> read_enum(Ctx& ctx, const YAML::Node& n, const std::string& path,
                           std::initializer_list<std::pair<std::string_view, E>> values) {
  std::string expected;
  for (const auto& [name, v] : values) {
    if (n.IsScalar() && n.Scalar() == name) return v;
    expected += (expected.empty() ? "" : ", ") + std::string(name);
  }
  ctx.error(n, path,
            fmt::format("expected one of: {}; got {}", expected,
                        n.IsScalar() ? "\"" + n.Scalar() + "\"" : kind_of(n)));
  return std::nullopt;
}

// Calls fn(item, item_path, index) for each element; reports a non-list.
bool for_each_item(Ctx& ctx, const YAML::Node& n, const std::string& path,
                   const std::function<void(const YAML::Node&, const std::string&, size_t)>& fn) {
  if (!n.IsSequence()) {
    ctx.error(n, path, fmt::format("expected a list, got {}", kind_of(n)));
    return false;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    if (!ctx.spend(n[i], path)) return false;
    fn(n[i], index_path(path, i), i);
  }
  return true;
}

std::vector<std::string> read_string_list(Ctx& ctx, const YAML::Node& n, const std::string& path) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for_each_item(ctx, n, path, [&](const YAML::Node& item, const std::string& p, size_t) {
    if (auto s = read_string(ctx, item, p)) {
      if (!seen.insert(*s).second) {
        ctx.error(item, p, fmt::format("\"{}\" is listed twice", *s));
      } else {
        out.push_back(*s);
      }
    }
  });
  return out;
}

std::map<std::string, std::string> read_string_map(Ctx& ctx, const YAML::Node& n,
                                                   const std::string& path) {
  std::map<std::string, std::string> out;
  if (!n.IsMap()) {
    ctx.error(n, path, fmt::format("expected a map, got {}", kind_of(n)));
    return out;
  }
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
    std::string p = join_path(path, key);
    if (key.empty()) {
      ctx.error(it->first, path, "map keys must be non-empty strings");
    } else if (out.count(key) != 0) {
      ctx.error(it->first, p, fmt::format("duplicate field \"{}\"", key));
    } else if (!it->second.IsScalar()) {
      ctx.error(it->second, p, fmt::format("expected a string, got {}", kind_of(it->second)));
    } else {
      out[key] = it->second.Scalar();
    }
  }
  return out;
}

// Assigns `field` when the node is present and valid.
template <class T, class F>
void optional_field(MapReader& m, std::string_view key, T& field, F&& read) {
  YAML::Node n = m.get(key);
  if (!n.IsDefined()) return;
  if (auto v = read(n, m.path(key))) field = *v;
}

// ---- kinds ----------------------------------------------------------------------------------

GpuGroupSpec read_gpu_group(Ctx& ctx, const YAML::Node& n, const std::string& path) {
  GpuGroupSpec g;
  MapReader m(ctx, n, path);
  if (auto v = read_string(ctx, m.require("model"), m.path("model"))) g.model = *v;
  optional_field(m, "count", g.count,
                 [&](auto& x, auto p) { return read_int32(ctx, x, p, 1, 64); });
  YAML::Node mem = m.require("memory");
  if (mem.IsDefined()) {
    if (auto v = read_memory(ctx, mem, m.path("memory"))) g.memory = *v;
  }
  if (YAML::Node mig = m.get("mig"); mig.IsDefined()) {
    int slices = 0;
    MiB taken{0};
    for_each_item(
        ctx, mig, m.path("mig"), [&](const YAML::Node& item, const std::string& p, size_t) {
          auto text = read_string(ctx, item, p);
          if (!text) return;
          auto profile = parse_mig_profile(*text);
          if (!profile) {
            ctx.error(
                item, p,
                fmt::format("\"{}\" is not a MIG profile: expected <compute slices>g.<memory>gb, "
                            "like 3g.40gb",
                            *text));
            return;
          }
          slices += profile->compute_slices;
          taken = taken + profile->memory;
          g.mig.push_back(*text);
        });
    if (slices > kMigComputeSlices)
      ctx.error(mig, m.path("mig"),
                fmt::format("the MIG profiles take {} compute slices; a GPU has {}", slices,
                            kMigComputeSlices));
    if (g.memory.value > 0 && taken.value > g.memory.value)
      ctx.error(mig, m.path("mig"),
                fmt::format("the MIG profiles take {} GiB; the GPU has {} GiB", taken.value / 1024,
                            g.memory.value / 1024));
  }
  // One name for one model everywhere (gpuModels, prices, the perf model): "NVIDIA L4" and "L4"
  // are L4-24GB; the memory picks between sizes ("A100" with 40GiB is A100-40GB).
  if (!g.model.empty())
    g.model =
        catalogue_gpu_name(g.model, g.memory.value > 0 ? std::optional(g.memory) : std::nullopt);
  optional_field(m, "pricePerHour", g.price_per_hour,
                 [&](auto& x, auto p) { return read_double(ctx, x, p, 0.0, 1e6); });
  YAML::Node uuids = m.get("uuids");
  if (uuids.IsDefined()) {
    g.uuids = read_string_list(ctx, uuids, m.path("uuids"));
    if (g.uuids.size() != static_cast<size_t>(g.count)) {
      ctx.error(uuids, m.path("uuids"),
                fmt::format("lists {} UUIDs but count is {}", g.uuids.size(), g.count));
    }
  }
  return g;
}

NodeSpec read_node(Ctx& ctx, const YAML::Node& n, const std::string& path) {
  NodeSpec node;
  MapReader m(ctx, n, path);
  if (auto v = read_name(ctx, m.require("name"), m.path("name"))) node.name = *v;
  YAML::Node labels = m.get("labels");
  if (labels.IsDefined()) node.labels = read_string_map(ctx, labels, m.path("labels"));
  YAML::Node gpus = m.require("gpus");
  if (gpus.IsDefined()) {
    for_each_item(ctx, gpus, m.path("gpus"),
                  [&](const YAML::Node& g, const std::string& p, size_t) {
                    node.gpus.push_back(read_gpu_group(ctx, g, p));
                  });
    if (gpus.IsSequence() && gpus.size() == 0)
      ctx.error(gpus, m.path("gpus"), "a node needs at least one GPU");
  }
  int total = 0;
  for (const auto& g : node.gpus)
    total += g.count;

  // nvlink: "all" (one clique of every GPU), "none", or a list of index lists.
  YAML::Node nv = m.get("nvlink");
  std::string nv_path = m.path("nvlink");
  if (nv.IsDefined()) {
    if (nv.IsScalar() && nv.Scalar() == "all") {
      std::vector<int> all(total);
      for (int i = 0; i < total; ++i)
        all[i] = i;
      node.nvlink_groups.push_back(all);
    } else if (nv.IsScalar() && nv.Scalar() == "none") {
      // PCIe only.
    } else if (nv.IsSequence()) {
      std::set<int> used;
      for_each_item(ctx, nv, nv_path, [&](const YAML::Node& grp, const std::string& gp, size_t) {
        std::vector<int> group;
        for_each_item(ctx, grp, gp, [&](const YAML::Node& idx, const std::string& ip, size_t) {
          auto v = read_int32(ctx, idx, ip, 0, std::max(0, total - 1));
          if (!v) return;
          if (!used.insert(*v).second) {
            ctx.error(idx, ip, fmt::format("GPU {} is already in another NVLink group", *v));
            return;
          }
          group.push_back(*v);
        });
        if (group.size() >= 2) {
          node.nvlink_groups.push_back(group);
        } else if (grp.IsSequence()) {
          ctx.error(grp, gp, "an NVLink group needs at least two GPUs");
        }
      });
    } else {
      ctx.error(nv, nv_path,
                "expected \"all\", \"none\" or a list of GPU index lists such as [[0,1],[2,3]]");
    }
  }
  return node;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Every hard-rule filter listed, and every listed filter one placement knows.
void check_filter_names(Ctx& ctx, const YAML::Node& f, const std::string& path,
                        const std::vector<std::string>& filters) {
  const auto& known = ctx.names().placement;
  if (!known) return;
  for (const std::string& hard : known->required_filters) {
    if (!contains(filters, hard)) {
      ctx.error(f, path,
                fmt::format("filter \"{}\" enforces a hard rule and must be listed", hard));
    }
  }
  for (size_t i = 0; i < filters.size(); ++i) {
    if (!contains(known->filters, filters[i])) {
      ctx.error(f, index_path(path, i),
                unknown_name_message("placement filter", filters[i], known->filters));
    }
  }
}

// spec.placement.scores: a map of score plugin name to weight. The names are checked here
// rather than as a MapReader's fields, so the error lists them the way the registry does.
void read_score_weights(Ctx& ctx, const YAML::Node& sc, const std::string& path,
                        PlacementSpec& ps) {
  MapReader sm(ctx, sc, path);
  if (!sm.valid()) return;
  ps.score_weights.clear();
  const auto& known = ctx.names().placement;
  for (auto it = sc.begin(); it != sc.end(); ++it) {
    if (!it->first.IsScalar()) continue;  // MapReader reports it
    const std::string name = it->first.Scalar();
    YAML::Node w = sm.get(name);
    if (known && !contains(known->scores, name)) {
      ctx.error(it->first, sm.path(name),
                unknown_name_message("placement score", name, known->scores));
      continue;
    }
    if (auto v = read_int32(ctx, w, sm.path(name), 0, 1000)) ps.score_weights[name] = *v;
  }
}

// DeploymentSpec::routing: one of the routing policies.
std::optional<std::string> read_routing_policy(Ctx& ctx, const YAML::Node& n,
                                               const std::string& path) {
  std::optional<std::string> name = read_string(ctx, n, path);
  const auto& known = ctx.names().routing_policies;
  if (!name || !known || contains(*known, *name)) return name;
  ctx.error(n, path, unknown_name_message("routing policy", *name, *known));
  return std::nullopt;
}

std::optional<std::string> read_scaling_policy(Ctx& ctx, const YAML::Node& n,
                                               const std::string& path) {
  std::optional<std::string> name = read_string(ctx, n, path);
  const auto& known = ctx.names().scaling_policies;
  if (!name || !known || contains(*known, *name)) return name;
  ctx.error(n, path, unknown_name_message("scaling policy", *name, *known));
  return std::nullopt;
}

// spec.autoscaling: every field optional; the defaults and their sources are in
// docs/autoscaling.md.
AutoscalingSpec read_autoscaling(Ctx& ctx, const YAML::Node& node, const std::string& path) {
  AutoscalingSpec a;
  MapReader m(ctx, node, path);
  optional_field(m, "policy", a.policy,
                 [&](auto& x, auto p) { return read_scaling_policy(ctx, x, p); });
  optional_field(m, "metric", a.metric, [&](auto& x, auto p) {
    return read_enum<ScalingMetric>(ctx, x, p,
                                    {{"concurrency", ScalingMetric::kConcurrency},
                                     {"rps", ScalingMetric::kRps},
                                     {"work", ScalingMetric::kWork}});
  });
  auto number = [&](const char* key, double& field, double lo, double hi) {
    optional_field(m, key, field, [&](auto& x, auto p) { return read_double(ctx, x, p, lo, hi); });
  };
  auto duration = [&](const char* key, Duration& field, Duration lo, Duration hi) {
    optional_field(m, key, field, [&](auto& x, auto p) -> std::optional<Duration> {
      auto d = read_unit<Duration>(ctx, x, p, parse_duration);
      if (d && (*d < lo || *d > hi)) {
        ctx.error(
            x, p,
            fmt::format("must be between {} and {}", format_duration(lo), format_duration(hi)));
        return std::nullopt;
      }
      return d;
    });
  };
  using std::chrono::hours;
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  // On work a replica's capacity is a share of itself: 1 unless the manifest says otherwise (the
  // default of 8 is concurrent requests, and would size for an eighth of the replicas needed).
  if (a.metric == ScalingMetric::kWork && node.IsMap() && !node["replicaCapacity"])
    a.replica_capacity = 1;
  number("replicaCapacity", a.replica_capacity, 1e-6, 1e9);
  number("targetUtilization", a.target_utilization, 0.01, 1.0);
  duration("period", a.period, milliseconds(100), hours(1));
  duration("window", a.window, milliseconds(100), hours(24));
  duration("sizeWindow", a.size_window, milliseconds(100), hours(1));
  number("scaleUpThreshold", a.scale_up_threshold, 0.01, 10.0);
  number("scaleDownThreshold", a.scale_down_threshold, 0.0, 10.0);
  duration("scaleUpCooldown", a.scale_up_cooldown, Duration(0), hours(24));
  duration("scaleDownCooldown", a.scale_down_cooldown, Duration(0), hours(24));
  number("tolerance", a.tolerance, 0.0, 1.0);
  duration("stabilizationWindow", a.stabilization, Duration(0), hours(24));
  number("panicThreshold", a.panic_threshold, 1.0, 100.0);
  duration("panicWindow", a.panic_window, milliseconds(100), hours(1));
  duration("coldStart", a.cold_start, Duration(0), hours(1));
  duration("season", a.season, std::chrono::minutes(1), hours(24 * 31));
  number("maxForecastError", a.max_forecast_error, 0.0, 100.0);
  number("headroom", a.headroom, 0.0, 0.9);
  optional_field(m, "maxScaleUpStep", a.max_step_up,
                 [&](auto& x, auto p) { return read_int32(ctx, x, p, 0, 100000); });
  optional_field(m, "maxScaleDownStep", a.max_step_down,
                 [&](auto& x, auto p) { return read_int32(ctx, x, p, 0, 100000); });
  duration("scaleToZeroAfter", a.scale_to_zero_after, seconds(1), hours(24 * 31));
  if (YAML::Node s = m.get("slo"); s.IsDefined()) {
    MapReader sm(ctx, s, m.path("slo"));
    auto target = [&](const char* key, std::optional<Duration>& field) {
      YAML::Node v = sm.get(key);
      if (!v.IsDefined()) return;
      auto d = read_unit<Duration>(ctx, v, sm.path(key), parse_duration);
      if (d && *d <= Duration(0)) {
        ctx.error(v, sm.path(key), "must be more than 0");
      } else if (d) {
        field = d;
      }
    };
    target("ttft", a.slo_ttft);
    target("tpot", a.slo_tpot);
  }
  if (!m.valid()) return a;
  if (a.scale_down_threshold >= a.scale_up_threshold) {
    ctx.error(node, path,
              fmt::format("scaleDownThreshold ({}) must be below scaleUpThreshold ({}), or "
                          "replicas would be added and removed at the same load",
                          a.scale_down_threshold, a.scale_up_threshold));
  }
  if (a.window < a.period) {
    ctx.error(node, path,
              fmt::format("window ({}) is shorter than one period ({})", format_duration(a.window),
                          format_duration(a.period)));
  }
  if (a.size_window < a.period) {
    ctx.error(node, path,
              fmt::format("sizeWindow ({}) is shorter than one period ({})",
                          format_duration(a.size_window), format_duration(a.period)));
  }
  if (a.policy == "slo" && !a.slo_ttft && !a.slo_tpot) {
    ctx.error(node, path, "policy slo needs a target: slo.ttft and/or slo.tpot (e.g. ttft: 500ms)");
  }
  return a;
}

void read_cluster(Ctx& ctx, MapReader& spec, ClusterSpec& c) {
  YAML::Node nodes = spec.require("nodes");
  if (!nodes.IsDefined()) return;
  std::map<std::string, std::string> node_paths;
  std::map<std::string, std::string> uuid_paths;
  for_each_item(
      ctx, nodes, spec.path("nodes"), [&](const YAML::Node& n, const std::string& p, size_t) {
        NodeSpec node = read_node(ctx, n, p);
        if (!node.name.empty() && !node_paths.emplace(node.name, p).second) {
          ctx.error(n["name"], p + ".name",
                    fmt::format("duplicate node name \"{}\" (first at {})", node.name,
                                node_paths[node.name]));
        }
        for (size_t gi = 0; gi < node.gpus.size(); ++gi) {
          for (const auto& u : node.gpus[gi].uuids) {
            std::string up = fmt::format("{}.gpus[{}].uuids", p, gi);
            if (!uuid_paths.emplace(u, up).second) {
              ctx.error(n["gpus"][gi]["uuids"], up,
                        fmt::format("duplicate GPU UUID \"{}\" (first at {})", u, uuid_paths[u]));
            }
          }
        }
        c.nodes.push_back(std::move(node));
      });
  if (nodes.IsSequence() && nodes.size() == 0)
    ctx.error(nodes, spec.path("nodes"), "a cluster needs at least one node");
  // The price table by GPU model, for a controller whose GPUs come from agents (their reports
  // carry no price); the first price given for a model is the model's.
  for (const NodeSpec& n : c.nodes) {
    for (const GpuGroupSpec& g : n.gpus) {
      if (g.price_per_hour > 0) c.placement.gpu_prices.emplace(g.model, g.price_per_hour);
    }
  }

  YAML::Node pl = spec.get("placement");
  if (!pl.IsDefined()) return;
  MapReader m(ctx, pl, spec.path("placement"));
  PlacementSpec& ps = c.placement;
  if (YAML::Node f = m.get("filters"); f.IsDefined()) {
    ps.filters = read_string_list(ctx, f, m.path("filters"));
    check_filter_names(ctx, f, m.path("filters"), ps.filters);
  }
  if (YAML::Node sc = m.get("scores"); sc.IsDefined())
    read_score_weights(ctx, sc, m.path("scores"), ps);
  optional_field(m, "sampleNodes", ps.sample_nodes,
                 [&](auto& x, auto p) { return read_int32(ctx, x, p, 1, 100000); });
  optional_field(m, "maxSharesPerGpu", ps.max_shares_per_gpu,
                 [&](auto& x, auto p) { return read_int32(ctx, x, p, 1, 64); });
  if (YAML::Node h = m.get("capacityHints"); h.IsDefined()) {
    if (!h.IsMap()) {
      ctx.error(
          h, m.path("capacityHints"),
          fmt::format("expected a map of GPU model to relative throughput, got {}", kind_of(h)));
    } else {
      for (auto it = h.begin(); it != h.end(); ++it) {
        std::string key = it->first.Scalar();
        if (auto v =
                read_double(ctx, it->second, join_path(m.path("capacityHints"), key), 0.001, 1000))
          ps.capacity_hints[catalogue_gpu_name(key)] = *v;
      }
    }
  }
}

void read_deployment(Ctx& ctx, MapReader& spec, DeploymentSpec& d) {
  if (auto v = read_string(ctx, spec.require("model"), spec.path("model"))) d.model = *v;

  if (YAML::Node e = spec.get("engine"); e.IsDefined()) {
    MapReader m(ctx, e, spec.path("engine"));
    optional_field(m, "type", d.engine.type, [&](auto& x, auto p) {
      return read_enum<EngineType>(ctx, x, p,
                                   {{"vllm", EngineType::kVllm},
                                    {"sglang", EngineType::kSglang},
                                    {"trtllm", EngineType::kTrtllm},
                                    {"llama.cpp", EngineType::kLlamaCpp},
                                    {"engine-sim", EngineType::kEngineSim}});
    });
    if (YAML::Node a = m.get("args"); a.IsDefined()) {
      for_each_item(ctx, a, m.path("args"), [&](const YAML::Node& x, const std::string& p, size_t) {
        if (x.IsScalar()) {
          d.engine.args.push_back(x.Scalar());
        } else {
          ctx.error(x, p, fmt::format("expected a string, got {}", kind_of(x)));
        }
      });
    }
    if (YAML::Node env = m.get("env"); env.IsDefined())
      d.engine.env = read_string_map(ctx, env, m.path("env"));
    if (YAML::Node b = m.get("maxBatchedTokens"); b.IsDefined()) {
      if (b.IsScalar() && !is_quoted(b) && b.Scalar() == "auto") {
        d.engine.max_batched_tokens = BatchedTokensSpec{.automatic = true};
      } else if (b.IsScalar() && !is_quoted(b) && !b.Scalar().empty() &&
                 (std::isdigit(static_cast<unsigned char>(b.Scalar()[0])) != 0 ||
                  b.Scalar()[0] == '-')) {
        if (auto v = read_int(ctx, b, m.path("maxBatchedTokens"), 1, kMaxBatchedTokensLimit))
          d.engine.max_batched_tokens = BatchedTokensSpec{.tokens = Tokens(*v)};
      } else if (b.IsMap()) {
        // `auto` for a request of this size: {prompt: 1155, output: 211}.
        MapReader a(ctx, b, m.path("maxBatchedTokens"));
        BatchedTokensSpec auto_budget{.automatic = true};
        const auto tokens = [&](auto& x, auto p) {
          auto v = read_int(ctx, x, p, 1, kMaxBatchedTokensLimit);
          return v ? std::optional<Tokens>(Tokens(*v)) : std::nullopt;
        };
        optional_field(a, "prompt", auto_budget.prompt, tokens);
        optional_field(a, "output", auto_budget.output, tokens);
        d.engine.max_batched_tokens = auto_budget;
      } else {
        ctx.error(b, m.path("maxBatchedTokens"),
                  fmt::format("expected \"auto\", a number of tokens or {{prompt: N, output: N}}, "
                              "got {}",
                              b.IsScalar() ? "\"" + b.Scalar() + "\"" : kind_of(b)));
      }
    }
  }

  if (YAML::Node r = spec.get("resources"); r.IsDefined()) {
    MapReader m(ctx, r, spec.path("resources"));
    auto& res = d.resources;
    optional_field(m, "gpus", res.gpus,
                   [&](auto& x, auto p) { return read_int32(ctx, x, p, 1, 64); });
    YAML::Node mem = m.get("memoryPerGpu");
    if (mem.IsDefined()) res.memory_per_gpu = read_memory(ctx, mem, m.path("memoryPerGpu"));
    YAML::Node comp = m.get("compute");
    if (comp.IsDefined()) {
      auto c = read_unit<MilliGpu>(ctx, comp, m.path("compute"), parse_milli_gpu);
      if (c && (c->value < 1 || c->value > 1000)) {
        ctx.error(comp, m.path("compute"),
                  "a fractional compute share must be between 1m and 1 (1000m)");
      } else {
        res.compute = c;
      }
    }
    if ((mem.IsDefined() || comp.IsDefined()) && res.gpus != 1) {
      ctx.error(mem.IsDefined() ? mem : comp, m.path(mem.IsDefined() ? "memoryPerGpu" : "compute"),
                fmt::format("fractional GPU shares need gpus: 1 (got gpus: {})", res.gpus));
    }
    if (YAML::Node gm = m.get("gpuModels"); gm.IsDefined()) {
      res.gpu_models = read_string_list(ctx, gm, m.path("gpuModels"));
      // NVML's product names are accepted too: "NVIDIA H100 80GB HBM3" is H100-80GB.
      for (auto& name : res.gpu_models)
        name = catalogue_gpu_name(name);
    }
    optional_field(m, "allowReserved", res.allow_reserved,
                   [&](auto& x, auto p) { return read_bool(ctx, x, p); });
    optional_field(m, "topology", res.topology, [&](auto& x, auto p) {
      return read_enum<TopologyPolicy>(ctx, x, p,
                                       {{"nvlink-required", TopologyPolicy::kNvlinkRequired},
                                        {"nvlink-preferred", TopologyPolicy::kNvlinkPreferred},
                                        {"any", TopologyPolicy::kAny}});
    });
  }

  // replicas: N (fixed) or {min, max}.
  if (YAML::Node r = spec.get("replicas"); r.IsDefined()) {
    std::string p = spec.path("replicas");
    if (r.IsScalar()) {
      if (auto v = read_int32(ctx, r, p, 0, 100000)) d.replicas = {*v, *v};
    } else {
      MapReader m(ctx, r, p);
      optional_field(m, "min", d.replicas.min,
                     [&](auto& x, auto q) { return read_int32(ctx, x, q, 0, 100000); });
      optional_field(m, "max", d.replicas.max,
                     [&](auto& x, auto q) { return read_int32(ctx, x, q, 1, 100000); });
      if (m.valid() && d.replicas.max < d.replicas.min) {
        ctx.error(r, p,
                  fmt::format("max ({}) is less than min ({})", d.replicas.max, d.replicas.min));
      }
    }
  }
  optional_field(spec, "priority", d.priority,
                 [&](auto& x, auto p) { return read_int32(ctx, x, p, -1000000, 1000000); });
  if (YAML::Node t = spec.get("tenants"); t.IsDefined())
    d.tenants = read_string_list(ctx, t, spec.path("tenants"));
  optional_field(spec, "owner", d.owner, [&](auto& x, auto p) { return read_name(ctx, x, p); });
  optional_field(spec, "reserveReplicas", d.reserve_replicas,
                 [&](auto& x, auto p) { return read_int32(ctx, x, p, 0, 10000); });
  if (YAML::Node a = spec.get("autoscaling"); a.IsDefined()) {
    d.autoscaling = read_autoscaling(ctx, a, spec.path("autoscaling"));
  }

  if (YAML::Node r = spec.get("rollout"); r.IsDefined()) {
    MapReader m(ctx, r, spec.path("rollout"));
    auto& ro = d.rollout;
    optional_field(m, "strategy", ro.strategy, [&](auto& x, auto p) {
      return read_enum<RolloutStrategy>(ctx, x, p,
                                        {{"rolling", RolloutStrategy::kRolling},
                                         {"blue-green", RolloutStrategy::kBlueGreen},
                                         {"canary", RolloutStrategy::kCanary}});
    });
    optional_field(m, "maxSurge", ro.max_surge,
                   [&](auto& x, auto p) { return read_int32(ctx, x, p, 0, 10000); });
    optional_field(m, "maxUnavailable", ro.max_unavailable,
                   [&](auto& x, auto p) { return read_int32(ctx, x, p, 0, 10000); });
    if (m.valid() && ro.max_surge == 0 && ro.max_unavailable == 0) {
      ctx.error(r, spec.path("rollout"),
                "maxSurge and maxUnavailable cannot both be 0: the rollout could never progress");
    }
    if (YAML::Node steps = m.get("steps"); steps.IsDefined()) {
      int last = 0;
      for_each_item(
          ctx, steps, m.path("steps"), [&](const YAML::Node& s, const std::string& p, size_t) {
            MapReader sm(ctx, s, p);
            CanaryStep step;
            if (auto w = read_int32(ctx, sm.require("weight"), sm.path("weight"), 1, 100)) {
              if (*w <= last)
                ctx.error(s, sm.path("weight"),
                          fmt::format("weights must increase (previous step: {})", last));
              step.weight_percent = last = *w;
            }
            optional_field(sm, "pause", step.pause, [&](auto& x, auto q) {
              return read_unit<Duration>(ctx, x, q, parse_duration);
            });
            ro.steps.push_back(step);
          });
    }
    if (m.valid() && !ro.steps.empty() && ro.strategy != RolloutStrategy::kCanary) {
      ctx.error(r, m.path("steps"), "steps are only used by strategy: canary");
    }
  }

  if (YAML::Node perf = spec.get("performance"); perf.IsDefined()) {
    MapReader m(ctx, perf, spec.path("performance"));
    PerformanceSpec p;
    auto ms = [&](const char* key, double& field) {
      optional_field(m, key, field,
                     [&](auto& x, auto q) { return read_double(ctx, x, q, 0.0, 1e7); });
    };
    ms("prefillBaseMs", p.prefill_base_ms);
    ms("prefillPerTokenMs", p.prefill_per_token_ms);
    ms("prefillPerToken2Ms", p.prefill_per_token2_ms);
    ms("decodeBaseMs", p.decode_base_ms);
    ms("decodePerSeqMs", p.decode_per_seq_ms);
    ms("decodePerCtxTokenMs", p.decode_per_ctx_token_ms);
    if (m.valid() && p.decode_base_ms <= 0 && p.decode_per_seq_ms <= 0) {
      ctx.error(perf, spec.path("performance"),
                "a decode iteration must cost something: set decodeBaseMs or decodePerSeqMs");
    } else if (m.valid() && p.prefill_base_ms <= 0 && p.prefill_per_token_ms <= 0) {
      ctx.error(perf, spec.path("performance"),
                "a prefill must cost something: set prefillBaseMs or prefillPerTokenMs");
    }
    d.performance = p;
  }

  if (YAML::Node r = spec.get("routing"); r.IsDefined()) {
    MapReader m(ctx, r, spec.path("routing"));
    optional_field(m, "policy", d.routing,
                   [&](auto& x, auto p) { return read_routing_policy(ctx, x, p); });
  }
}

bool is_sha256_ref(const std::string& s) {
  constexpr std::string_view kPrefix = "sha256:";
  if (s.size() != kPrefix.size() + 64 || s.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  return std::all_of(s.begin() + kPrefix.size(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

void read_tenant(Ctx& ctx, MapReader& spec, TenantSpec& t) {
  optional_field(spec, "weight", t.weight,
                 [&](auto& x, auto p) { return read_int32(ctx, x, p, 1, 1000000); });
  optional_field(spec, "priority", t.priority,
                 [&](auto& x, auto p) { return read_int32(ctx, x, p, -1000000, 1000000); });
  if (YAML::Node keys = spec.get("apiKeys"); keys.IsDefined()) {
    for_each_item(
        ctx, keys, spec.path("apiKeys"), [&](const YAML::Node& k, const std::string& p, size_t) {
          auto s = read_string(ctx, k, p);
          if (!s) return;
          if (!is_sha256_ref(*s)) {
            ctx.error(
                k, p,
                "API keys are stored hashed: write \"sha256:<64 lowercase hex digits>\", e.g. the "
                "output of `printf %s KEY | sha256sum`");
            return;
          }
          t.api_key_hashes.push_back(*s);
        });
  }
  if (YAML::Node rl = spec.get("rateLimit"); rl.IsDefined()) {
    MapReader m(ctx, rl, spec.path("rateLimit"));
    YAML::Node rps = m.get("requestsPerSecond");
    if (rps.IsDefined())
      t.requests_per_second = read_double(ctx, rps, m.path("requestsPerSecond"), 0.001, 1e9);
    YAML::Node tpm = m.get("tokensPerMinute");
    if (tpm.IsDefined())
      t.tokens_per_minute = read_unit<Tokens>(ctx, tpm, m.path("tokensPerMinute"), parse_tokens);
  }
  YAML::Node mc = spec.get("maxConcurrency");
  if (mc.IsDefined())
    t.max_concurrency = read_int32(ctx, mc, spec.path("maxConcurrency"), 1, 10000000);
  YAML::Node q = spec.get("gpuQuota");
  if (q.IsDefined())
    t.gpu_quota = read_unit<MilliGpu>(ctx, q, spec.path("gpuQuota"), parse_milli_gpu);
  if (YAML::Node ms = spec.get("models"); ms.IsDefined())
    t.models = read_string_list(ctx, ms, spec.path("models"));
}

// One YAML document: apiVersion, kind, metadata, spec.
void read_document(Ctx& ctx, const YAML::Node& doc, Manifests& out,
                   std::map<std::string, std::string>& names) {
  if (doc.IsNull()) return;  // an empty document between "---" separators
  MapReader top(ctx, doc, "");
  if (!top.valid()) return;
  YAML::Node api = top.require("apiVersion");
  if (api.IsDefined() && !(api.IsScalar() && api.Scalar() == kApiVersion)) {
    ctx.error(api, "apiVersion",
              fmt::format("unsupported apiVersion {}; expected \"{}\"",
                          api.IsScalar() ? "\"" + api.Scalar() + "\"" : kind_of(api), kApiVersion));
  }
  YAML::Node kind_node = top.require("kind");
  std::optional<std::string> kind;
  if (kind_node.IsDefined()) {
    kind = read_enum<std::string>(
        ctx, kind_node, "kind",
        {{"Cluster", "Cluster"}, {"Deployment", "Deployment"}, {"Tenant", "Tenant"}});
  }
  std::string name;
  YAML::Node meta = top.require("metadata");
  if (meta.IsDefined()) {
    MapReader m(ctx, meta, "metadata");
    YAML::Node name_node = m.require("name");
    if (name_node.IsDefined()) {
      if (auto v = read_name(ctx, name_node, "metadata.name")) name = *v;
    }
    if (YAML::Node labels = m.get("labels"); labels.IsDefined())
      read_string_map(ctx, labels, "metadata.labels");
    if (kind && !name.empty()) {
      std::string key = *kind + "/" + name;
      std::string where = fmt::format("line {}", name_node.Mark().line + 1);
      auto [it, fresh] = names.emplace(key, where);
      if (!fresh) {
        ctx.error(
            name_node, "metadata.name",
            fmt::format("duplicate {} name \"{}\" (first defined at {})", *kind, name, it->second));
      }
    }
  }
  YAML::Node spec_node = top.require("spec");
  if (!spec_node.IsDefined() || !kind) return;
  MapReader spec(ctx, spec_node, "spec");
  if (!spec.valid()) return;
  if (*kind == "Cluster") {
    ClusterSpec c;
    c.name = name;
    read_cluster(ctx, spec, c);
    out.clusters.push_back(std::move(c));
  } else if (*kind == "Deployment") {
    DeploymentSpec d;
    d.name = name;
    read_deployment(ctx, spec, d);
    out.deployments.push_back(std::move(d));
  } else {
    TenantSpec t;
    t.name = name;
    read_tenant(ctx, spec, t);
    out.tenants.push_back(std::move(t));
  }
}

}  // namespace

std::string Diagnostic::format() const {
  std::string where = file;
  if (line > 0) where += fmt::format(":{}:{}", line, column);
  return fmt::format("{}: {}{}{}", where, path, path.empty() ? "" : ": ", message);
}

// yaml-cpp recurses once per nesting level and overflows the stack on deeply nested flow
// collections ("[[[[..."); no manifest needs more than a few levels, so refuse before parsing.
bool too_deep(std::string_view text, YAML::Mark& where) {
  constexpr int kMaxDepth = 64;
  int depth = 0;
  int line = 0;
  int col = 0;
  char quote = 0;
  for (char c : text) {
    ++col;
    if (c == '\n') {
      ++line;
      col = 0;
    }
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) {
        where.line = line;
        where.column = col - 1;
        return true;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

// Counts parse events without building nodes, and stops a runaway parse. yaml-cpp 0.7 can loop
// forever on some malformed input, emitting documents and eating memory (found by the fuzzer:
// 11 GB in 20 s from a 2.5 KB file); counting first bounds both.
class EventBudget final : public YAML::EventHandler {
 public:
  explicit EventBudget(size_t max_events) : left_(max_events) {}
  struct Exhausted {
    YAML::Mark mark;
  };
  void OnDocumentStart(const YAML::Mark& m) override { spend(m); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { spend(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { spend(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                const std::string&) override {
    spend(m);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    spend(m);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    spend(m);
  }
  void OnMapEnd() override {}

 private:
  void spend(const YAML::Mark& m) {
    if (left_-- == 0) throw Exhausted{m};
  }
  size_t left_;
};

ParsedManifests parse_manifests(std::string_view text, const std::string& file,
                                const ExtensionNames& names, ParseLimits limits) {
  ParsedManifests result;
  Ctx ctx(file, result.diagnostics, names, limits);
  if (YAML::Mark mark; too_deep(text, mark)) {
    ctx.error(mark, "", "nesting deeper than 64 levels; manifests never need that");
    return result;
  }
  std::vector<YAML::Node> docs;
  try {
    // A manifest has a few events per byte; 16 per byte plus slack is far above any real file.
    std::istringstream in{std::string(text)};
    YAML::Parser counter(in);
    EventBudget budget(text.size() * 16 + 1024);
    while (counter.HandleNextDocument(budget)) {
    }
    docs = YAML::LoadAll(std::string(text));
  } catch (const EventBudget::Exhausted& e) {
    ctx.error(
        e.mark, "",
        "the YAML parser does not terminate on this input (too many events); check the document");
    return result;
  } catch (const YAML::Exception& e) {
    ctx.error(e.mark, "", "YAML syntax error: " + e.msg);
    return result;
  }
  std::map<std::string, std::string> first_defined;  // "Kind/name" -> where
  for (const auto& doc : docs) {
    try {
      read_document(ctx, doc, result.manifests, first_defined);
    } catch (const YAML::Exception& e) {
      // yaml-cpp throws on some malformed trees (e.g. bad conversions); report, don't crash.
      ctx.error(e.mark, "", "invalid YAML: " + e.msg);
    }
  }
  if (docs.empty() ||
      std::all_of(docs.begin(), docs.end(), [](const YAML::Node& d) { return d.IsNull(); })) {
    ctx.error(YAML::Mark::null_mark(), "",
              "no manifests found (expected YAML documents with apiVersion, kind, metadata, spec)");
  }
  ctx.finish();
  return result;
}

ParsedManifests load_manifest_file(const std::string& path, const ExtensionNames& names) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ParsedManifests r;
    r.diagnostics.push_back(
        Diagnostic{path, 0, 0, "", "cannot read file: " + std::string(std::strerror(errno))});
    return r;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_manifests(ss.str(), path, names);
}

}  // namespace gf
