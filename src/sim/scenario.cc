#include "sim/scenario.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace gf {
namespace {

struct Kind {
  const char* name;
  FaultKind kind;
};
constexpr Kind kKinds[] = {{"node-loss", FaultKind::kNodeLoss},
                           {"node-return", FaultKind::kNodeReturn},
                           {"gpu-fault", FaultKind::kGpuFault},
                           {"engine-crash", FaultKind::kEngineCrash}};

std::string known_kinds() {
  std::string out;
  for (const Kind& k : kKinds)
    out += (out.empty() ? "" : ", ") + std::string(k.name);
  return out;
}

// Collects problems with their positions; the first few are reported together.
struct Problems {
  const std::string& file;
  std::vector<std::string> lines;
  void add(const YAML::Node& n, const std::string& path, const std::string& what) {
    const YAML::Mark m = n.Mark();
    lines.push_back(fmt::format("{}:{}:{}: {}: {}", file, m.line + 1, m.column + 1, path, what));
  }
};

}  // namespace

const char* to_string(FaultKind kind) {
  for (const Kind& k : kKinds)
    if (k.kind == kind) return k.name;
  return "?";
}

Result<Scenario> parse_scenario(std::string_view text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{}:{}:{}: {}", file, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  Problems p{file, {}};
  Scenario out;
  if (!root.IsMap() || !root["events"] || !root["events"].IsSequence()) {
    p.add(root, "events", "expected a map with an \"events\" list");
  } else {
    const YAML::Node events = root["events"];
    for (size_t i = 0; i < events.size(); ++i) {
      const YAML::Node e = events[i];
      const std::string at = fmt::format("events[{}]", i);
      if (!e.IsMap()) {
        p.add(e, at, "expected a map with at and kind");
        continue;
      }
      for (const auto& kv : e) {
        static const std::set<std::string> fields = {"at",  "kind",       "node",
                                                     "gpu", "deployment", "reason"};
        const std::string key = kv.first.as<std::string>();
        if (!fields.count(key))
          p.add(kv.first, at + "." + key,
                "unknown field (expected one of: at, kind, node, gpu, deployment, reason)");
      }
      ScenarioEvent ev;
      const auto text_of = [&](const char* key) -> std::string {
        const YAML::Node v = e[key];
        if (!v || !v.IsScalar() || v.Scalar().empty()) {
          p.add(v ? v : e, at + "." + key, "required, a non-empty string");
          return {};
        }
        return v.Scalar();
      };
      if (!e["at"] || !e["at"].IsScalar()) {
        p.add(e, at + ".at", "required, a duration since the trace's start (\"90s\", \"10m\")");
      } else if (auto d = parse_duration(e["at"].Scalar()); !d || *d < Duration::zero()) {
        p.add(e["at"], at + ".at",
              d ? "must not be negative" : "invalid duration: " + d.error().message);
      } else {
        ev.at = *d;
      }
      const std::string kind = text_of("kind");
      const auto k = std::find_if(std::begin(kKinds), std::end(kKinds),
                                  [&](const Kind& x) { return kind == x.name; });
      if (!kind.empty() && k == std::end(kKinds)) {
        p.add(e["kind"], at + ".kind",
              fmt::format("unknown kind \"{}\" (known: {})", kind, known_kinds()));
        continue;
      }
      if (kind.empty()) continue;
      ev.kind = k->kind;
      if (ev.kind == FaultKind::kEngineCrash) {
        ev.deployment = text_of("deployment");
      } else {
        ev.node = text_of("node");
      }
      if (ev.kind == FaultKind::kGpuFault) {
        const YAML::Node g = e["gpu"];
        int index = -1;
        if (g && g.IsScalar()) {
          try {
            index = g.as<int>();
          } catch (const YAML::Exception&) {
          }
        }
        if (index < 0)
          p.add(g ? g : e, at + ".gpu", "required, the GPU's index on its node (0, 1, ...)");
        ev.gpu = index;
        ev.reason = e["reason"] && e["reason"].IsScalar() ? e["reason"].Scalar() : "XID 79";
      }
      out.events.push_back(ev);
    }
  }
  if (!p.lines.empty()) {
    std::string all;
    for (const std::string& l : p.lines)
      all += (all.empty() ? "" : "\n") + l;
    return make_error(ErrorCode::kInvalidArgument, all);
  }
  std::stable_sort(out.events.begin(), out.events.end(),
                   [](const ScenarioEvent& a, const ScenarioEvent& b) { return a.at < b.at; });
  return out;
}

Result<Scenario> load_scenario(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::kNotFound, fmt::format("{}: cannot read the file", path));
  std::stringstream text;
  text << in.rdbuf();
  return parse_scenario(text.str(), path);
}

}  // namespace gf
