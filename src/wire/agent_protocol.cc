#include "wire/agent_protocol.h"

#include <nlohmann/json.hpp>

#include "wire/field_reader.h"
#include "wire/replica_load_json.h"

namespace gf::wire {

using nlohmann::json;

namespace {

Status check_version(simdjson::dom::object j) {
  int v = 0;
  if (auto e = field(j, "version")) (void)read_value(*e, v);
  if (v != kAgentProtocolVersion) {
    return make_error(ErrorCode::kInvalidArgument, "protocol version " + std::to_string(v) +
                                                       " is not supported (this side " + "speaks " +
                                                       std::to_string(kAgentProtocolVersion) + ")");
  }
  return {};
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
  auto parsed = parse_object(text);
  if (!parsed) return parsed.error();
  const simdjson::dom::object j = *parsed;
  if (Status s = check_version(j); !s) return s.error();
  NodeReport h;
  FieldReader r("");
  r.get(j, "node", h.node, true);
  r.get(j, "agentId", h.agent_id, true);
  r.get(j, "seq", h.seq, true);
  r.get(j, "host", h.host, true);
  r.get(j, "port", h.port);
  r.get(j, "labels", h.labels);
  r.get(j, "nvlinkGroups", h.nvlink_groups);
  r.get(j, "appliedGeneration", h.applied_generation);
  r.get(j, "acceptsUnchanged", h.accepts_unchanged);
  r.each(j, "gpus", [&](FieldReader& g, simdjson::dom::object o) {
    GpuReport x;
    int64_t mem = 0, used = 0;
    g.get(o, "uuid", x.uuid, true);
    g.get(o, "index", x.index);
    g.get(o, "name", x.name, true);
    g.get(o, "memoryMiB", mem, true);
    std::string health = "Healthy";
    g.get(o, "health", health);
    g.read_enum("health", health, parse_health, x.health);
    g.get(o, "reason", x.reason);
    g.get(o, "utilizationPct", x.utilization_pct);
    g.get(o, "temperatureC", x.temperature_c);
    g.get(o, "powerW", x.power_w);
    g.get(o, "memoryUsedMiB", used);
    x.memory = MiB{mem};
    x.memory_used = MiB{used};
    h.gpus.push_back(std::move(x));
  });
  r.each(j, "replicas", [&](FieldReader& g, simdjson::dom::object o) {
    ReplicaReport x;
    g.get(o, "id", x.id, true);
    g.get(o, "generation", x.generation);
    std::string state;
    g.get(o, "state", state, true);
    g.read_enum("state", state, parse_replica_process_state, x.state);
    g.get(o, "reason", x.reason);
    g.get(o, "port", x.port);
    g.get(o, "restarts", x.restarts);
    if (auto l = field(o, "load")) {
      auto load = parse_replica_load(*l, g.path() + "load");
      if (load) {
        x.load = *load;
      } else {
        g.set_error(load.error());
      }
    }
    h.replicas.push_back(std::move(x));
  });
  r.each(j, "events", [&](FieldReader& g, simdjson::dom::object o) {
    HealthEventReport x;
    g.get(o, "gpu", x.gpu, true);
    std::string from = "Healthy", to;
    g.get(o, "from", from);
    g.get(o, "to", to, true);
    g.read_enum("from", from, parse_health, x.from);
    g.read_enum("to", to, parse_health, x.to);
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
    if (a.max_batched_tokens) x["maxBatchedTokens"] = a.max_batched_tokens->value;
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
  auto parsed = parse_object(text);
  if (!parsed) return parsed.error();
  const simdjson::dom::object j = *parsed;
  if (Status s = check_version(j); !s) return s.error();
  NodeAssignment out;
  FieldReader r("");
  r.get(j, "generation", out.generation, true);
  int64_t interval_ms = 1000;
  r.get(j, "heartbeatIntervalMs", interval_ms);
  out.heartbeat_interval = std::chrono::milliseconds(std::max<int64_t>(interval_ms, 10));
  r.get(j, "unchanged", out.unchanged);
  r.each(j, "replicas", [&](FieldReader& g, simdjson::dom::object o) {
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
    if (field(o, "maxBatchedTokens")) {
      int64_t budget = 0;
      g.get(o, "maxBatchedTokens", budget);
      if (budget > 0) {
        a.max_batched_tokens = Tokens(budget);
      } else {
        g.fail("maxBatchedTokens", "must be a positive number of tokens");
      }
    }
    int64_t drain_ms = 0;
    g.get(o, "drainTimeoutMs", drain_ms);
    a.drain_timeout = std::chrono::milliseconds(std::max<int64_t>(drain_ms, 0));
    if (auto e = parse_engine_type(engine); e) {
      a.engine = *e;
    } else {
      g.fail("engine", e.error().message);
    }
    simdjson::dom::object perf;
    if (auto p = field(o, "performance"); p && !p->get_object().get(perf)) {
      PerformanceSpec ps;
      g.get(perf, "prefillBaseMs", ps.prefill_base_ms);
      g.get(perf, "prefillPerTokenMs", ps.prefill_per_token_ms);
      g.get(perf, "prefillPerToken2Ms", ps.prefill_per_token2_ms);
      g.get(perf, "decodeBaseMs", ps.decode_base_ms);
      g.get(perf, "decodePerSeqMs", ps.decode_per_seq_ms);
      g.get(perf, "decodePerCtxTokenMs", ps.decode_per_ctx_token_ms);
      a.performance = ps;
    }
    out.replicas.push_back(std::move(a));
  });
  if (r.error()) return *r.error();
  return out;
}

}  // namespace gf::wire
