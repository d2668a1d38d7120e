#include "wire/routing_table_json.h"

#include <nlohmann/json.hpp>

namespace gf::wire {

using nlohmann::json;

std::string to_json(const RoutingTable& t) {
  json models = json::array();
  for (const auto& m : t.models) {
    json revs = json::array();
    for (const auto& r : m.revisions) {
      json reps = json::array();
      for (const auto& x : r.replicas) {
        json rep = {{"id", x.id}, {"address", x.address}};
        // Written only when not the default, so a table of Ready replicas reads as before.
        if (!x.ready) rep["ready"] = false;
        if (x.draining) rep["draining"] = true;
        if (x.restarts != 0) rep["restarts"] = x.restarts;
        if (!x.api_key.empty()) rep["apiKey"] = x.api_key;
        // Absent when unknown: a gateway that reads none routes without the engine's load.
        if (x.kv_cache_usage) rep["kvCacheUsage"] = *x.kv_cache_usage;
        if (x.queue_length) rep["queueLength"] = *x.queue_length;
        if (x.speed != 1.0) rep["speed"] = x.speed;
        reps.push_back(std::move(rep));
      }
      revs.push_back({{"revision", r.revision}, {"weight", r.weight}, {"replicas", reps}});
    }
    json model = {{"model", m.model},
                  {"deployment", m.deployment},
                  {"policy", m.policy},
                  {"tenants", m.tenants},
                  {"revisions", revs}};
    if (!m.unavailable.empty()) model["unavailable"] = m.unavailable;
    models.push_back(std::move(model));
  }
  return json{{"version", t.version}, {"models", models}}.dump();
}

Result<RoutingTable> parse_routing_table(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return make_error(ErrorCode::kInvalidArgument, "routing table is not a JSON object");
  RoutingTable t;
  std::string where = "version";
  try {
    t.version = j.at("version").get<uint64_t>();
    const json& models = j.at("models");
    for (size_t i = 0; i < models.size(); ++i) {
      where = "models[" + std::to_string(i) + "]";
      const json& m = models.at(i);
      RouteModel rm;
      rm.model = m.at("model").get<std::string>();
      rm.deployment = m.value("deployment", "");
      rm.policy = m.value("policy", "least-work");
      rm.tenants = m.value("tenants", std::vector<std::string>{});
      rm.unavailable = m.value("unavailable", "");
      const json& revs = m.at("revisions");
      for (size_t k = 0; k < revs.size(); ++k) {
        where = "models[" + std::to_string(i) + "].revisions[" + std::to_string(k) + "]";
        const json& r = revs.at(k);
        RouteRevision rr;
        rr.revision = r.at("revision").get<std::string>();
        rr.weight = r.at("weight").get<int>();
        for (const auto& x : r.at("replicas")) {
          // ready/draining/restarts default to true/false/0 and the load to unknown: an older
          // controller sends none of them.
          RouteReplica rep{x.at("id").get<std::string>(), x.at("address").get<std::string>(),
                           x.value("ready", true), x.value("draining", false),
                           x.value("restarts", 0)};
          rep.api_key = x.value("apiKey", "");
          if (auto kv = x.find("kvCacheUsage"); kv != x.end() && !kv->is_null()) {
            const double v = kv->get<double>();
            // Out of range says nothing trustworthy: unknown rather than a refused table.
            if (v >= 0.0 && v <= 1.0) rep.kv_cache_usage = v;
          }
          if (auto q = x.find("queueLength"); q != x.end() && !q->is_null()) {
            const int v = q->get<int>();
            if (v >= 0) rep.queue_length = v;
          }
          if (auto sp = x.find("speed"); sp != x.end() && !sp->is_null()) {
            const double v = sp->get<double>();
            // A speed out of (0, 1] says nothing usable: equal to the others rather than refused.
            if (v > 0.0 && v <= 1.0) rep.speed = v;
          }
          rr.replicas.push_back(std::move(rep));
        }
        rm.revisions.push_back(std::move(rr));
      }
      t.models.push_back(std::move(rm));
    }
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, "routing table " + where + ": " + e.what());
  }
  return t;
}

}  // namespace gf::wire
