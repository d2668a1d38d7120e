#include "wire/agent_protocol.h"

#include <nlohmann/json.hpp>

#include "wire/replica_load_json.h"

namespace gf::wire {

using nlohmann::json;

namespace {

// Reads fields with errors that name the path ("replicas[1].port: must be a number").
class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}
  const std::optional<Error>& error() const { return error_; }

  template <class T>
  void get(const json& obj, const char* key, T& out, bool required = false) {
    if (error_) return;
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
      if (required) fail(key, "is required");
      return;
    }
    try {
      out = it->get<T>();
    } catch (const json::exception&) {
      fail(key, std::string("has the wrong type (") + it->type_name() + ")");
    }
  }
  void fail(const std::string& key, const std::string& what) {
    if (!error_) error_ = make_error(ErrorCode::kInvalidArgument, path_ + key + ": " + what);
  }
  Reader at(const std::string& key, size_t i) const {
    return Reader(path_ + key + "[" + std::to_string(i) + "].");
  }
  const std::string& path() const { return path_; }
  // An error whose message already names the whole path.
  void set_error(Error e) {
    if (!error_) error_ = std::move(e);
  }

 private:
  std::string path_;
  std::optional<Error> error_;
};

Result<json> parse_object(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return make_error(ErrorCode::kInvalidArgument, "body is not valid JSON");
  if (!j.is_object()) return make_error(ErrorCode::kInvalidArgument, "body must be a JSON object");
  return j;
}

Status check_version(const json& j) {
  int v = j.value("version", 0);
  if (v != kAgentProtocolVersion) {
    return make_error(ErrorCode::kInvalidArgument, "protocol version " + std::to_string(v) +
                                                       " is not supported (this side " + "speaks " +
                                                       std::to_string(kAgentProtocolVersion) + ")");
  }
  return {};
}

// Runs `each` on every element of an optional array field, with a reader for its path.
template <class F>
void each(Reader& r, const json& obj, const char* key, F&& f) {
  if (r.error()) return;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return;
  if (!it->is_array()) {
    r.fail(key, "must be a list");
    return;
  }
  for (size_t i = 0; i < it->size(); ++i) {
    Reader sub = r.at(key, i);
    if (!(*it)[i].is_object()) {
      r.fail(key, "[" + std::to_string(i) + "] must be an object");
      return;
    }
    f(sub, (*it)[i]);
    if (sub.error()) {
      r.fail("", sub.error()->message);
      return;
    }
  }
}

// A name read from the wire into its enum; an unknown name is an error that names the field, so
// an agent newer than its controller is told what it sent that is not understood.
template <class E, class Parse>
void read_enum(Reader& r, const char* key, const std::string& name, Parse parse, E& out) {
  if (r.error()) return;
  if (auto v = parse(name)) {
    out = *v;
  } else {
    r.fail(key, "unknown value \"" + name + "\"");
  }
}

}  // namespace

Result<EngineType> parse_engine_type(std::string_view name) {
  for (EngineType t : {EngineType::kVllm, EngineType::kSglang, EngineType::kTrtllm,
                       EngineType::kLlamaCpp, EngineType::kEngineSim}) {
    if (name == to_string(t)) return t;
  }
  return make_error(
      ErrorCode::kInvalidArgument,
      "unknown engine \"" + std::string(name) + "\" (vllm, sglang, trtllm, llama.cpp, engine-sim)");
}

std::string to_json(const NodeReport& h) {
  json gpus = json::array();
  for (const auto& g : h.gpus) {
    gpus.push_back({{"uuid", g.uuid},
                    {"index", g.index},
                    {"name", g.name},
                    {"memoryMiB", g.memory.value},
                    {"health", to_string(g.health)},
                    {"reason", g.reason},
                    {"utilizationPct", g.utilization_pct},
                    {"temperatureC", g.temperature_c},
                    {"powerW", g.power_w},
                    {"memoryUsedMiB", g.memory_used.value}});
  }
  json replicas = json::array();
  for (const auto& r : h.replicas) {
    json rep = {{"id", r.id},
                {"generation", r.generation},
                {"state", to_string(r.state)},
                {"reason", r.reason},
                {"port", r.port},
                {"restarts", r.restarts}};
    // Only when known: a controller older than the field ignores it, and absent means unknown.
    if (r.load) rep["load"] = replica_load_json(*r.load);
    replicas.push_back(std::move(rep));
  }
  json events = json::array();
  for (const auto& e : h.events) {
    events.push_back({{"gpu", e.gpu},
                      {"from", to_string(e.from)},
                      {"to", to_string(e.to)},
                      {"reason", e.reason}});
  }
  json j{{"version", kAgentProtocolVersion},
         {"node", h.node},
         {"agentId", h.agent_id},
         {"seq", h.seq},
         {"host", h.host},
         {"port", h.port},
         {"labels", h.labels},
         {"nvlinkGroups", h.nvlink_groups},
         {"gpus", gpus},
         {"replicas", replicas},
         {"events", events},
         {"appliedGeneration", h.applied_generation}};
  if (h.accepts_unchanged) j["acceptsUnchanged"] = true;
  return j.dump();
}

Result<NodeReport> parse_node_report(std::string_view text) {
  auto j = parse_object(text);
  if (!j) return j.error();
  if (Status s = check_version(*j); !s) return s.error();
  NodeReport h;
  Reader r("");
  r.get(*j, "node", h.node, true);
  r.get(*j, "agentId", h.agent_id, true);
  r.get(*j, "seq", h.seq, true);
  r.get(*j, "host", h.host, true);
  r.get(*j, "port", h.port);
  r.get(*j, "labels", h.labels);
  r.get(*j, "nvlinkGroups", h.nvlink_groups);
  r.get(*j, "appliedGeneration", h.applied_generation);
  r.get(*j, "acceptsUnchanged", h.accepts_unchanged);
  each(r, *j, "gpus", [&](Reader& g, const json& o) {
    GpuReport x;
    int64_t mem = 0, used = 0;
    g.get(o, "uuid", x.uuid, true);
    g.get(o, "index", x.index);
    g.get(o, "name", x.name, true);
    g.get(o, "memoryMiB", mem, true);
    std::string health = "Healthy";
    g.get(o, "health", health);
    read_enum(g, "health", health, parse_health, x.health);
    g.get(o, "reason", x.reason);
    g.get(o, "utilizationPct", x.utilization_pct);
    g.get(o, "temperatureC", x.temperature_c);
    g.get(o, "powerW", x.power_w);
    g.get(o, "memoryUsedMiB", used);
    x.memory = MiB{mem};
    x.memory_used = MiB{used};
    h.gpus.push_back(std::move(x));
  });
  each(r, *j, "replicas", [&](Reader& g, const json& o) {
    ReplicaReport x;
    g.get(o, "id", x.id, true);
    g.get(o, "generation", x.generation);
    std::string state;
    g.get(o, "state", state, true);
    read_enum(g, "state", state, parse_replica_process_state, x.state);
    g.get(o, "reason", x.reason);
    g.get(o, "port", x.port);
    g.get(o, "restarts", x.restarts);
    if (auto l = o.find("load"); l != o.end() && !l->is_null()) {
      auto load = parse_replica_load(*l, g.path() + "load");
      if (load) {
        x.load = *load;
      } else {
        g.set_error(load.error());
      }
    }
    h.replicas.push_back(std::move(x));
  });
  each(r, *j, "events", [&](Reader& g, const json& o) {
    HealthEventReport x;
    g.get(o, "gpu", x.gpu, true);
    std::string from = "Healthy", to;
    g.get(o, "from", from);
    g.get(o, "to", to, true);
    read_enum(g, "from", from, parse_health, x.from);
    read_enum(g, "to", to, parse_health, x.to);
    g.get(o, "reason", x.reason);
    h.events.push_back(std::move(x));
  });
  if (r.error()) return *r.error();
  if (h.node.empty()) return make_error(ErrorCode::kInvalidArgument, "node: must not be empty");
  return h;
}

std::string to_json(const NodeAssignment& reply) {
  json replicas = json::array();
  for (const auto& a : reply.replicas) {
    json x{{"id", a.id},
           {"generation", a.generation},
           {"deployment", a.deployment},
           {"revision", a.revision},
           {"model", a.model},
           {"engine", to_string(a.engine)},
           {"args", a.args},
           {"env", a.env},
           {"gpus", a.gpus},
           {"gpuModel", a.gpu_model},
           {"memoryFraction", a.memory_fraction}};
    if (a.performance) {
      const auto& p = *a.performance;
      x["performance"] = {{"prefillBaseMs", p.prefill_base_ms},
                          {"prefillPerTokenMs", p.prefill_per_token_ms},
                          {"prefillPerToken2Ms", p.prefill_per_token2_ms},
                          {"decodeBaseMs", p.decode_base_ms},
                          {"decodePerSeqMs", p.decode_per_seq_ms},
                          {"decodePerCtxTokenMs", p.decode_per_ctx_token_ms}};
    }
    if (!a.api_key.empty()) x["apiKey"] = a.api_key;
    if (a.draining) {
      // Only on draining entries, so an older agent reads the same set as before.
      x["draining"] = true;
      x["drainTimeoutMs"] =
          std::chrono::duration_cast<std::chrono::milliseconds>(a.drain_timeout).count();
    }
    replicas.push_back(std::move(x));
  }
  json out{
      {"version", kAgentProtocolVersion},
      {"generation", reply.generation},
      {"heartbeatIntervalMs",
       std::chrono::duration_cast<std::chrono::milliseconds>(reply.heartbeat_interval).count()}};
  // Only to an agent that said it understands: an older one would read "no replicas" as "stop
  // them all".
  if (reply.unchanged) {
    out["unchanged"] = true;
  } else {
    out["replicas"] = std::move(replicas);
  }
  return out.dump();
}

Result<NodeAssignment> parse_node_assignment(std::string_view text) {
  auto j = parse_object(text);
  if (!j) return j.error();
  if (Status s = check_version(*j); !s) return s.error();
  NodeAssignment out;
  Reader r("");
  r.get(*j, "generation", out.generation, true);
  int64_t interval_ms = 1000;
  r.get(*j, "heartbeatIntervalMs", interval_ms);
  out.heartbeat_interval = std::chrono::milliseconds(std::max<int64_t>(interval_ms, 10));
  r.get(*j, "unchanged", out.unchanged);
  each(r, *j, "replicas", [&](Reader& g, const json& o) {
    ReplicaAssignment a;
    std::string engine = "engine-sim";
    g.get(o, "id", a.id, true);
    g.get(o, "generation", a.generation);
    g.get(o, "deployment", a.deployment);
    g.get(o, "revision", a.revision);
    g.get(o, "model", a.model, true);
    g.get(o, "engine", engine);
    g.get(o, "args", a.args);
    g.get(o, "env", a.env);
    g.get(o, "gpus", a.gpus, true);
    g.get(o, "gpuModel", a.gpu_model);
    g.get(o, "memoryFraction", a.memory_fraction);
    g.get(o, "draining", a.draining);
    g.get(o, "apiKey", a.api_key);
    int64_t drain_ms = 0;
    g.get(o, "drainTimeoutMs", drain_ms);
    a.drain_timeout = std::chrono::milliseconds(std::max<int64_t>(drain_ms, 0));
    if (auto e = parse_engine_type(engine); e) {
      a.engine = *e;
    } else {
      g.fail("engine", e.error().message);
    }
    if (auto it = o.find("performance"); it != o.end() && it->is_object()) {
      PerformanceSpec p;
      g.get(*it, "prefillBaseMs", p.prefill_base_ms);
      g.get(*it, "prefillPerTokenMs", p.prefill_per_token_ms);
      g.get(*it, "prefillPerToken2Ms", p.prefill_per_token2_ms);
      g.get(*it, "decodeBaseMs", p.decode_base_ms);
      g.get(*it, "decodePerSeqMs", p.decode_per_seq_ms);
      g.get(*it, "decodePerCtxTokenMs", p.decode_per_ctx_token_ms);
      a.performance = p;
    }
    out.replicas.push_back(std::move(a));
  });
  if (r.error()) return *r.error();
  return out;
}

}  // namespace gf::wire
