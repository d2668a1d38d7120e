#include "controller/fleet_persistence.h"

#include <nlohmann/json.hpp>

#include "common/io/manifest.h"

namespace gf {

using nlohmann::json;

namespace {

constexpr std::string_view kDeployments = "/gpufleet/deployments/";
constexpr std::string_view kReplicas = "/gpufleet/replicas/";
constexpr std::string_view kGeneration = "/gpufleet/meta/generation";

std::string encode(const DeploymentRecord& d) {
  json history = json::array();
  for (const auto& h : d.history)
    history.push_back({{"revision", h.revision}, {"manifest", h.manifest}});
  return json{{"name", d.spec.name},         {"manifest", d.manifest},
              {"revision", d.revision},      {"replicas", d.replicas},
              {"history", history},          {"stableRevision", d.stable_revision},
              {"canaryStep", d.canary_step}, {"switched", d.switched_at.has_value()}}
      .dump();
}

}  // namespace

json replica_fields(const ReplicaRecord& r) {
  return json{{"id", r.id},
              {"deployment", r.deployment},
              {"revision", r.revision},
              {"node", r.node},
              {"gpus", r.gpus},
              {"gpuModel", r.gpu_model},
              {"memoryFraction", r.memory_fraction},
              {"state", to_string(r.state)},
              {"reason", r.reason},
              {"generation", r.generation},
              {"port", r.port},
              {"restarts", r.restarts}};
}

namespace {

std::string encode(const ReplicaRecord& r) {
  return replica_fields(r).dump();
}

}  // namespace

Result<DeploymentSpec> deployment_from_manifest(const std::string& manifest,
                                                const std::string& name) {
  ParsedManifests p = parse_manifests(manifest, "stored manifest of " + name);
  if (!p.ok()) return make_error(ErrorCode::kInvalidArgument, p.diagnostics.front().format());
  for (auto& d : p.manifests.deployments) {
    if (d.name == name) return std::move(d);
  }
  return make_error(ErrorCode::kNotFound, "the manifest has no Deployment named " + name);
}

Status persist_changes(StateStore& store, const Fleet& fleet, FleetChanges& pending) {
  if (pending.empty()) return {};
  TxnRequest txn;
  for (const auto& name : pending.deployments) {
    std::string key = std::string(kDeployments) + name;
    auto it = fleet.deployments().find(name);
    if (it == fleet.deployments().end()) {
      txn.success.push_back(op_delete(key));
    } else {
      txn.success.push_back(op_put(key, encode(it->second)));
    }
  }
  for (const auto& id : pending.replicas) {
    std::string key = std::string(kReplicas) + id;
    auto it = fleet.replicas().find(id);
    if (it == fleet.replicas().end()) {
      txn.success.push_back(op_delete(key));
    } else {
      txn.success.push_back(op_put(key, encode(it->second)));
    }
  }
  if (pending.generation) {
    txn.success.push_back(op_put(std::string(kGeneration), std::to_string(fleet.generation())));
  }
  // Within the backend's per-transaction op limit (etcd's default is 128): each record stands
  // alone, so splitting loses no invariant.
  constexpr size_t kChunk = 100;
  for (size_t i = 0; i < txn.success.size(); i += kChunk) {
    TxnRequest part;
    auto end =
        txn.success.begin() + static_cast<std::ptrdiff_t>(std::min(txn.success.size(), i + kChunk));
    part.success.assign(txn.success.begin() + static_cast<std::ptrdiff_t>(i), end);
    auto r = store.txn(part);
    if (!r) return r.error();
  }
  pending = FleetChanges{};
  return {};
}

Status restore_fleet(StateStore& store, Fleet& fleet, TimePoint now,
                     std::vector<std::string>& problems) {
  auto gen = store.get(kGeneration);
  if (!gen) return gen.error();
  if (const KeyValue* kv = gen->first()) {
    try {
      fleet.restore_generation(std::stoll(kv->value));
    } catch (const std::exception&) {
      problems.push_back(std::string(kGeneration) + ": not a number: " + kv->value);
    }
  }
  auto deps = store.get_prefix(kDeployments);
  if (!deps) return deps.error();
  for (const auto& kv : deps->kvs) {
    json j = json::parse(kv.value, nullptr, false);
    if (!j.is_object()) {
      problems.push_back(kv.key + ": not a JSON object");
      continue;
    }
    std::string name = kv.key.substr(kDeployments.size());
    auto spec = deployment_from_manifest(j.value("manifest", ""), name);
    if (!spec) {
      problems.push_back(kv.key + ": " + spec.error().message);
      continue;
    }
    DeploymentRecord d;
    d.spec = std::move(*spec);
    d.manifest = j.value("manifest", "");
    d.revision = deployment_revision(d.spec);
    d.replicas = j.value("replicas", d.spec.replicas.min);
    if (j.contains("history") && j["history"].is_array()) {
      for (const auto& h : j["history"]) {
        RevisionRecord r{h.value("revision", ""), h.value("manifest", ""), std::nullopt};
        if (auto spec = deployment_from_manifest(r.manifest, name); spec) r.spec = std::move(*spec);
        d.history.push_back(std::move(r));
      }
    }
    d.stable_revision = j.value("stableRevision", "");
    d.canary_step = j.value("canaryStep", 0);
    d.step_started = now;  // a pause in progress starts again: the safe direction
    if (j.value("switched", false)) d.switched_at = now;
    fleet.restore(std::move(d));
  }
  auto reps = store.get_prefix(kReplicas);
  if (!reps) return reps.error();
  for (const auto& kv : reps->kvs) {
    json j = json::parse(kv.value, nullptr, false);
    if (!j.is_object()) {
      problems.push_back(kv.key + ": not a JSON object");
      continue;
    }
    try {
      ReplicaRecord r;
      r.id = j.at("id").get<std::string>();
      r.deployment = j.at("deployment").get<std::string>();
      r.revision = j.at("revision").get<std::string>();
      r.node = j.value("node", "");
      r.gpus = j.value("gpus", std::vector<std::string>{});
      r.gpu_model = j.value("gpuModel", "");
      r.memory_fraction = j.value("memoryFraction", 0.9);
      r.state = parse_replica_state(j.value("state", "Pending")).value_or(ReplicaState::kPending);
      r.reason = j.value("reason", "");
      r.generation = j.value("generation", int64_t{0});
      r.port = j.value("port", uint16_t{0});
      r.restarts = j.value("restarts", 0);
      fleet.restore(std::move(r), now);
    } catch (const json::exception& e) {
      problems.push_back(kv.key + ": " + e.what());
    }
  }
  return {};
}

}  // namespace gf
