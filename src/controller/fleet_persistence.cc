#include "controller/fleet_persistence.h"

#include <nlohmann/json.hpp>

#include "autoscale/policy_registry.h"
#include "common/io/manifest.h"
#include "placement/placement_names.h"
#include "routing/policy_registry.h"

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
  ParsedManifests p = parse_manifests(manifest, "stored manifest of " + name,
                                      {placement_names(), policy_names(), scaling_policy_names()});
  if (!p.ok()) return make_error(ErrorCode::kInvalidArgument, p.diagnostics.front().format());
  for (auto& d : p.manifests.deployments) {
    if (d.name == name) return std::move(d);
  }
  return make_error(ErrorCode::kNotFound, "the manifest has no Deployment named " + name);
}

Result<WriteFence> claim_store(StateStore& store, const std::string& owner) {
  auto r = store.put(kOwnerKey, owner);
  if (!r) return r.error();
  return WriteFence{std::string(kOwnerKey), r->revision};
}

std::vector<TxnRequest> plan_writes(const Fleet& fleet, const FleetChanges& changes,
                                    const std::optional<WriteFence>& fence) {
  std::vector<TxnOp> ops;
  for (const auto& name : changes.deployments) {
    std::string key = std::string(kDeployments) + name;
    auto it = fleet.deployments().find(name);
    ops.push_back(it == fleet.deployments().end() ? op_delete(key)
                                                  : op_put(key, encode(it->second)));
  }
  for (const auto& id : changes.replicas) {
    std::string key = std::string(kReplicas) + id;
    auto it = fleet.replicas().find(id);
    ops.push_back(it == fleet.replicas().end() ? op_delete(key) : op_put(key, encode(it->second)));
  }
  if (changes.generation)
    ops.push_back(op_put(std::string(kGeneration), std::to_string(fleet.generation())));
  // Within the backend's per-transaction op limit (see the header for what that leaves partial).
  constexpr size_t kChunk = 100;
  std::vector<TxnRequest> txns;
  for (size_t i = 0; i < ops.size(); i += kChunk) {
    TxnRequest part;
    if (fence)
      part.compare.push_back(compare_mod_revision(fence->key, CompareOp::kEqual, fence->revision));
    auto end = ops.begin() + static_cast<std::ptrdiff_t>(std::min(ops.size(), i + kChunk));
    part.success.assign(std::make_move_iterator(ops.begin() + static_cast<std::ptrdiff_t>(i)),
                        std::make_move_iterator(end));
    txns.push_back(std::move(part));
  }
  return txns;
}

Status run_writes(StateStore& store, const std::vector<TxnRequest>& txns) {
  for (const auto& t : txns) {
    auto r = store.txn(t);
    if (!r) return r.error();
    if (!r->succeeded) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "the state store has another owner (" + std::string(kOwnerKey) +
                            " changed): this controller no longer writes");
    }
  }
  return {};
}

Status persist_changes(StateStore& store, const Fleet& fleet, FleetChanges& pending,
                       const std::optional<WriteFence>& fence) {
  if (pending.empty()) return {};
  if (Status s = run_writes(store, plan_writes(fleet, pending, fence)); !s) return s;
  pending = FleetChanges{};
  return {};
}

void merge(FleetChanges& into, const FleetChanges& more) {
  into.replicas.insert(more.replicas.begin(), more.replicas.end());
  into.deployments.insert(more.deployments.begin(), more.deployments.end());
  into.generation = into.generation || more.generation;
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
