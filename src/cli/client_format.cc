#include "cli/client_format.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>
#include <vector>

#include "cli/table.h"

namespace gf::client {

using nlohmann::json;

Result<OutputFormat> parse_output_format(std::string_view text) {
  if (text == "table") return OutputFormat::kTable;
  if (text == "json") return OutputFormat::kJson;
  if (text == "yaml") return OutputFormat::kYaml;
  return make_error(ErrorCode::kInvalidArgument,
                    "unknown output format \"" + std::string(text) + "\" (table, json, yaml)");
}

Result<Kind> parse_kind(std::string_view t) {
  if (t == "nodes" || t == "node" || t == "no") return Kind::kNodes;
  if (t == "gpus" || t == "gpu") return Kind::kGpus;
  if (t == "deployments" || t == "deployment" || t == "deploy") return Kind::kDeployments;
  if (t == "replicas" || t == "replica" || t == "rs") return Kind::kReplicas;
  if (t == "events" || t == "event" || t == "ev") return Kind::kEvents;
  return make_error(
      ErrorCode::kInvalidArgument,
      "unknown resource \"" + std::string(t) + "\" (nodes, gpus, deployments, replicas, events)");
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kNodes:
      return "nodes";
    case Kind::kGpus:
      return "gpus";
    case Kind::kDeployments:
      return "deployments";
    case Kind::kReplicas:
      return "replicas";
    case Kind::kEvents:
      return "events";
  }
  return "?";
}

const char* kind_singular(Kind k) {
  switch (k) {
    case Kind::kNodes:
      return "node";
    case Kind::kGpus:
      return "gpu";
    case Kind::kDeployments:
      return "deployment";
    case Kind::kReplicas:
      return "replica";
    case Kind::kEvents:
      return "event";
  }
  return "?";
}

const char* kind_key(Kind k) {
  switch (k) {
    case Kind::kNodes:
    case Kind::kDeployments:
      return "name";
    case Kind::kGpus:
      return "uuid";
    case Kind::kReplicas:
      return "id";
    case Kind::kEvents:
      return "";
  }
  return "";
}

// ---- YAML

namespace {

bool numeric_looking(const std::string& s) {
  std::string lower;
  for (char c : s)
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == ".inf" || lower == "-.inf" || lower == "+.inf" || lower == ".nan") return true;
  if (lower.size() > 1 && lower[0] == '0' &&
      (lower[1] == 'x' || lower[1] == 'o' || lower[1] == 'b'))
    return true;
  // Integers, floats, YAML 1.1 sexagesimals ("1:30") and dates ("2024-01-01") are all made of
  // these characters; quoting a few strings that would have been safe costs nothing.
  bool digit = false;
  for (char c : lower) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digit = true;
    } else if (std::string_view("+-._:e").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return digit;
}

bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  // Words that YAML 1.1 (yaml-cpp, PyYAML) reads as booleans or null.
  static const char* const kWords[] = {"true", "false", "yes",  "no", "on",  "off",
                                       "y",    "n",     "null", "~",  "none"};
  std::string lower;
  for (char c : s)
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* w : kWords) {
    if (lower == w) return true;
  }
  if (numeric_looking(s)) return true;
  if (std::string_view(" -?:,[]{}#&*!|>'\"%@`").find(s.front()) != std::string_view::npos)
    return true;
  if (s.back() == ' ' || s.back() == ':') return true;
  if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos) return true;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
    // Flow indicators are legal in block-context plain scalars, but not every parser agrees.
    if (std::string_view("[]{},").find(c) != std::string_view::npos) return true;
  }
  return false;
}

std::string yaml_string(const std::string& s) {
  // A JSON string literal is a valid YAML double-quoted scalar: same escapes.
  return needs_quotes(s) ? json(s).dump() : s;
}

std::string yaml_scalar(const json& v) {
  if (v.is_string()) return yaml_string(v.get<std::string>());
  if (v.is_null()) return "null";
  if (v.is_object()) return "{}";  // only reached when empty
  if (v.is_array()) return "[]";
  return v.dump();  // numbers and booleans read the same in YAML
}

bool nested(const json& v) {
  return (v.is_object() || v.is_array()) && !v.empty();
}

void emit(const json& v, int indent, std::string& out);

// A sequence item: "- " takes the place of the first line's indentation, so a mapping item
// reads "- name: x" with its other keys lined up under "name".
void emit_item(const json& item, int indent, std::string& out) {
  std::string pad(static_cast<size_t>(indent), ' ');
  if (!nested(item)) {
    out += pad + "- " + yaml_scalar(item) + "\n";
    return;
  }
  std::string inner;
  emit(item, indent + 2, inner);
  out += pad + "- " + inner.substr(static_cast<size_t>(indent) + 2);
}

void emit(const json& v, int indent, std::string& out) {
  std::string pad(static_cast<size_t>(indent), ' ');
  if (v.is_object() && !v.empty()) {
    for (const auto& [k, val] : v.items()) {
      out += pad + yaml_string(k) + ":";
      if (val.is_object() && !val.empty()) {
        out += "\n";
        emit(val, indent + 2, out);
      } else if (val.is_array() && !val.empty()) {
        out += "\n";
        emit(val, indent, out);  // kubectl's style: a key's sequence is not indented further
      } else {
        out += " " + yaml_scalar(val) + "\n";
      }
    }
  } else if (v.is_array() && !v.empty()) {
    for (const auto& item : v)
      emit_item(item, indent, out);
  } else {
    out += pad + yaml_scalar(v) + "\n";
  }
}

}  // namespace

std::string to_yaml(const json& value) {
  std::string out;
  emit(value, 0, out);
  return out;
}

std::string to_json_text(const json& value) {
  return value.dump(2) + "\n";
}

std::string render_data(const json& value, OutputFormat format) {
  return format == OutputFormat::kYaml ? to_yaml(value) : to_json_text(value);
}

// ---- tables

std::string format_age(int64_t then_ms, int64_t now_ms) {
  if (then_ms <= 0) return "-";
  int64_t s = std::max<int64_t>(0, (now_ms - then_ms) / 1000);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m", s / 60);
  if (s < 86400) return fmt::format("{}h", s / 3600);
  return fmt::format("{}d", s / 86400);
}

std::string format_gib(double mib) {
  return fmt::format("{:.1f}", mib / 1024.0);
}

namespace {

// A field as table text: "-" for a missing or empty value, so columns never collapse.
std::string text(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>().empty() ? "-" : it->get<std::string>();
  if (it->is_number_float()) return fmt::format("{:g}", it->get<double>());
  if (it->is_array()) {
    std::string s;
    for (const auto& x : *it)
      s += (s.empty() ? "" : ",") + (x.is_string() ? x.get<std::string>() : x.dump());
    return s.empty() ? "-" : s;
  }
  return it->dump();
}

double number(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number() ? it->get<double>() : 0.0;
}

int64_t millis(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number() ? it->get<int64_t>() : 0;
}

std::string memory(const json& obj, const char* committed, const char* total) {
  return format_gib(number(obj, committed)) + "/" + format_gib(number(obj, total));
}

std::string print(const Table& t) {
  std::ostringstream os;
  t.print(os);
  return os.str();
}

Table nodes_table(const json& items, int64_t now_ms) {
  Table t({"NAME", "STATE", "GPUS", "ALLOCATED", "IDLE", "UNAVAILABLE", "CORDONED", "MEMORY(GiB)",
           "ADDRESS", "LAST-SEEN"});
  for (const auto& n : items) {
    // A node's GPUs are known once its agent sent an inventory; until then, dashes.
    const json g = n.value("gpus", json::object());
    bool known = g.contains("gpus");
    auto count = [&](const char* k) { return known ? text(g, k) : "-"; };
    t.add({text(n, "name"), text(n, "state"), count("gpus"), count("allocated"), count("idle"),
           count("unavailable"), count("cordoned"),
           known ? memory(g, "memoryCommittedMiB", "memoryMiB") : "-", text(n, "address"),
           format_age(millis(n, "lastSeenMs"), now_ms)});
  }
  return t;
}

Table gpus_table(const json& items) {
  Table t({"NODE", "INDEX", "UUID", "MODEL", "STATE", "UTIL", "TEMP", "POWER", "MEMORY(GiB)",
           "SHARES", "REASON"});
  for (const auto& g : items) {
    t.add({text(g, "node"), text(g, "index"), text(g, "uuid"), text(g, "model"), text(g, "state"),
           fmt::format("{:.0f}%", number(g, "utilizationPct")),
           fmt::format("{:.0f}C", number(g, "temperatureC")),
           fmt::format("{:.0f}W", number(g, "powerW")),
           memory(g, "memoryCommittedMiB", "memoryMiB"), text(g, "shares"), text(g, "reason")});
  }
  return t;
}

Table deployments_table(const json& items) {
  Table t({"NAME", "READY", "REPLICAS", "MIN", "MAX", "SCALING", "MODEL", "ENGINE", "GPUS",
           "REVISION"});
  for (const auto& d : items) {
    // READY is against the target count, as kubectl shows it; REPLICAS counts what exists
    // (including Pending and old revisions during a rollout).
    t.add({text(d, "name"), text(d, "readyReplicas") + "/" + text(d, "replicas"),
           text(d, "totalReplicas"), text(d, "minReplicas"), text(d, "maxReplicas"),
           text(d, "scaling"), text(d, "model"), text(d, "engine"), text(d, "gpusPerReplica"),
           text(d, "revision")});
  }
  return t;
}

// What the replicas' engines said about themselves (enginesReporting of the Ready replicas).
std::string engine_signals(const json& s) {
  const int reporting = s.value("enginesReporting", 0);
  if (reporting == 0) return "engines: unknown (no replica reported its load)";
  std::vector<std::string> parts;
  if (s.contains("engineRunning"))
    parts.push_back(fmt::format("{} running", s["engineRunning"].get<int>()));
  if (s.contains("engineWaiting"))
    parts.push_back(fmt::format("{} waiting", s["engineWaiting"].get<int>()));
  if (s.contains("engineKvCacheUsage"))
    parts.push_back(fmt::format("KV cache {:.0f}%", 100 * s["engineKvCacheUsage"].get<double>()));
  if (s.contains("engineTtftP95Ms"))
    parts.push_back(fmt::format("TTFT p95 {:.0f} ms", s["engineTtftP95Ms"].get<double>()));
  if (s.contains("engineQueueP95Ms"))
    parts.push_back(fmt::format("queue time p95 {:.0f} ms", s["engineQueueP95Ms"].get<double>()));
  return fmt::format("engines: {} ({} {} reporting)", fmt::join(parts, ", "), reporting,
                     reporting == 1 ? "replica" : "replicas");
}

std::string signals_line(const json& s) {
  if (!s.value("known", false))
    return "unknown (no gateway reported this model); " + engine_signals(s);
  std::string out = fmt::format(
      "{:.1f} req/s, {:.0f} queued, {:.0f} in flight, {:.0f} prompt + "
      "{:.0f} output tokens/s, {} ready, {} starting",
      s.value("arrivalRps", 0.0), s.value("queued", 0.0), s.value("inFlight", 0.0),
      s.value("promptTokensPerSecond", 0.0), s.value("outputTokensPerSecond", 0.0),
      s.value("ready", 0), s.value("starting", 0));
  if (s.contains("ttftP95Ms"))
    out += fmt::format(", TTFT p95 {:.0f} ms", s["ttftP95Ms"].get<double>());
  if (s.contains("tpotP95Ms"))
    out += fmt::format(", TPOT p95 {:.0f} ms", s["tpotP95Ms"].get<double>());
  if (s.contains("work")) out += fmt::format(", work {:.2f} replicas", s["work"].get<double>());
  return out + "; " + engine_signals(s);
}

Table replicas_table(const json& items, int64_t now_ms) {
  Table t({"ID", "DEPLOYMENT", "STATE", "NODE", "GPUS", "REVISION", "RESTARTS", "AGE", "ADDRESS",
           "REASON"});
  for (const auto& r : items) {
    t.add({text(r, "id"), text(r, "deployment"), text(r, "state"), text(r, "node"), text(r, "gpus"),
           text(r, "revision"), text(r, "restarts"), format_age(millis(r, "sinceMs"), now_ms),
           text(r, "address"), text(r, "reason")});
  }
  return t;
}

Table events_table(const json& items, int64_t now_ms) {
  Table t({"AGE", "KIND", "SUBJECT", "FROM", "TO", "REASON"});
  for (const auto& e : items) {
    t.add({format_age(millis(e, "timeMs"), now_ms), text(e, "kind"), text(e, "subject"),
           text(e, "from"), text(e, "to"), text(e, "reason")});
  }
  return t;
}

}  // namespace

std::string render_table(Kind kind, const json& items, int64_t now_ms) {
  if (!items.is_array() || items.empty()) return "";
  switch (kind) {
    case Kind::kNodes:
      return print(nodes_table(items, now_ms));
    case Kind::kGpus:
      return print(gpus_table(items));
    case Kind::kDeployments:
      return print(deployments_table(items));
    case Kind::kReplicas:
      return print(replicas_table(items, now_ms));
    case Kind::kEvents:
      return print(events_table(items, now_ms));
  }
  return "";
}

// ---- top

namespace {

// "2 (Healthy 1, Cordoned 1)": counts by the items' state, in name order.
std::string state_counts(const json& items) {
  std::map<std::string, int> by;
  for (const auto& x : items)
    ++by[text(x, "state")];
  std::string s;
  for (const auto& [state, n] : by)
    s += fmt::format("{}{} {}", s.empty() ? "" : ", ", state, n);
  return fmt::format("{}{}", items.size(), s.empty() ? "" : " (" + s + ")");
}

}  // namespace

std::string render_top(const std::string& controller, const json& gpus, const json& replicas,
                       int64_t now_ms) {
  const json no_items = json::array();
  const json& gs = gpus.is_array() ? gpus : no_items;
  const json& rs = replicas.is_array() ? replicas : no_items;
  double util = 0;
  for (const auto& g : gs)
    util += number(g, "utilizationPct");
  int64_t day_s = (now_ms / 1000) % 86400;
  std::string out = fmt::format(
      "gpufleet top  {}  {:02}:{:02}:{:02} UTC\nGPUs: {}  avg util {:.0f}%\nreplicas: {}\n\n",
      controller, day_s / 3600, day_s / 60 % 60, day_s % 60, state_counts(gs),
      gs.empty() ? 0.0 : util / static_cast<double>(gs.size()), state_counts(rs));

  // Which replicas sit on each GPU, so one glance connects a hot GPU to its model.
  std::map<std::string, std::string> on_gpu;
  for (const auto& r : rs) {
    for (const auto& u : r.value("gpus", json::array())) {
      if (!u.is_string()) continue;
      std::string& s = on_gpu[u.get<std::string>()];
      s += (s.empty() ? "" : ",") + text(r, "id");
    }
  }
  if (gs.empty()) {
    out += "no GPUs registered (is an agent running with --controller?)\n";
  } else {
    Table t({"NODE", "GPU", "MODEL", "STATE", "UTIL", "TEMP", "MEMORY(GiB)", "REPLICAS"});
    for (const auto& g : gs) {
      auto it = on_gpu.find(g.value("uuid", ""));
      t.add({text(g, "node"), text(g, "index"), text(g, "model"), text(g, "state"),
             fmt::format("{:.0f}%", number(g, "utilizationPct")),
             fmt::format("{:.0f}C", number(g, "temperatureC")),
             memory(g, "memoryCommittedMiB", "memoryMiB"), it == on_gpu.end() ? "-" : it->second});
    }
    out += print(t);
  }
  out += "\n";
  if (rs.empty()) {
    out += "no replicas\n";
  } else {
    Table t({"REPLICA", "DEPLOYMENT", "STATE", "NODE", "GPUS", "RESTARTS", "AGE", "ADDRESS"});
    for (const auto& r : rs) {
      t.add({text(r, "id"), text(r, "deployment"), text(r, "state"), text(r, "node"),
             text(r, "gpus"), text(r, "restarts"), format_age(millis(r, "sinceMs"), now_ms),
             text(r, "address")});
    }
    out += print(t);
  }
  return out;
}

// ---- errors

std::string describe_deployment(const json& d, const json& scaling, int64_t now_ms) {
  std::string out;
  auto line = [&](std::string_view key, const std::string& value) {
    out += fmt::format("{:<11}{}\n", std::string(key) + ":", value);
  };
  line("Name", text(d, "name"));
  if (d.contains("status")) {
    const std::string why = d.value("statusReason", "");
    line("Status", text(d, "status") + (why.empty() ? "" : ": " + why));
  }
  line("Model", text(d, "model"));
  line("Engine", text(d, "engine") + ", " + text(d, "gpusPerReplica") + " GPU(s) per replica");
  line("Replicas", fmt::format("{} wanted ({}..{}), {} ready, {} in all", text(d, "replicas"),
                               text(d, "minReplicas"), text(d, "maxReplicas"),
                               text(d, "readyReplicas"), text(d, "totalReplicas")));
  line("Rollout", text(d, "rollout"));
  const std::string policy = scaling.value("policy", "fixed");
  if (policy == "fixed" || !scaling.contains("metric")) {
    line("Scaling", policy == "fixed" ? "fixed (no spec.autoscaling)" : policy + " (starting)");
    return out;
  }
  std::string desired = scaling.contains("desired") ? text(scaling, "desired") : "-";
  line("Scaling", fmt::format("{} on {}, desired {}, {} queued in the gateways", policy,
                              text(scaling, "metric"), desired, text(scaling, "queued")));
  if (scaling.contains("last")) {
    const json& l = scaling["last"];
    line("Last", fmt::format("{} ago, {}: {}", format_age(millis(l, "timeMs"), now_ms),
                             text(l, "rule"), text(l, "reason")));
    line("Signals", signals_line(l.value("signals", json::object())));
  }
  const json decisions = scaling.value("decisions", json::array());
  if (decisions.empty()) return out + "Decisions: none yet\n";
  out += "Decisions:\n";
  Table t({"AGE", "FROM", "TO", "RULE", "REASON"});
  for (const auto& x : decisions) {
    t.add({format_age(millis(x, "timeMs"), now_ms), text(x, "from"), text(x, "to"), text(x, "rule"),
           text(x, "reason")});
  }
  std::ostringstream rendered;
  t.print(rendered);
  std::istringstream rows(rendered.str());
  for (std::string row; std::getline(rows, row);)
    out += "  " + row + "\n";
  return out;
}

std::string format_api_error(int http_status, const std::string& body, const std::string& source) {
  json j = json::parse(body, nullptr, false);
  const json* e = nullptr;
  if (j.is_object()) {
    auto it = j.find("error");
    if (it != j.end() && it->is_object() && it->contains("message") && (*it)["message"].is_string())
      e = &*it;
  }
  if (e == nullptr) {
    // Not the API's shape (a proxy, another program on the port): show what came back.
    std::string b = body.substr(0, 300);
    while (!b.empty() && std::isspace(static_cast<unsigned char>(b.back())))
      b.pop_back();
    if (b.empty()) return fmt::format("the controller answered HTTP {} with no body", http_status);
    return fmt::format("the controller answered HTTP {}: {}{}", http_status, b,
                       body.size() > 300 ? " ..." : "");
  }
  std::string code = e->value("code", "Error");
  const json details = e->value("details", json::array());
  if (!details.is_array() || details.empty()) {
    return fmt::format("{} ({}, HTTP {})", (*e)["message"].get<std::string>(), code, http_status);
  }
  std::string out = fmt::format("{} (HTTP {}): {} problem{}", code, http_status, details.size(),
                                details.size() == 1 ? "" : "s");
  for (const auto& d : details) {
    std::string line = d.is_string() ? d.get<std::string>() : d.dump();
    if (!source.empty()) {
      for (const char* name : {"request.yaml:", "request.json:"}) {
        if (line.rfind(name, 0) == 0) {
          line = source + ":" + line.substr(std::string_view(name).size());
          break;
        }
      }
    }
    out += "\n  " + line;
  }
  return out;
}

std::string format_unreachable(const std::string& url, const std::string& reason) {
  std::string r = reason;
  size_t sep = r.find(": ");
  if (sep != std::string::npos) {
    std::string head = r.substr(0, sep);
    if (head.find(':') != std::string::npos && head.find(' ') == std::string::npos)
      r = r.substr(sep + 2);
  }
  return fmt::format(
      "cannot reach the controller at {}: {} (is `gpufleet controller` or `gpufleet up` running?)",
      url, r);
}

}  // namespace gf::client
