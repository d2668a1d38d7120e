// Writes the fleet's records to a StateStore and reads them back after a restart. Keys:
//   /gpufleet/deployments/<name>   manifest as applied, target replica count, revision history
//   /gpufleet/replicas/<id>        placement (node, GPUs) and last known state
//   /gpufleet/meta/generation      the assignment generation counter (only ever grows)
// Node liveness is not stored: after a restart every node gets one lease to report again.
#pragma once

#include <nlohmann/json.hpp>

#include "fleet/fleet.h"
#include "store/state_store.h"

namespace gf {

// One transaction with every change since the last call. On failure nothing was written; the
// changes are kept and retried by the next call.
Status persist_changes(StateStore& store, const Fleet& fleet, FleetChanges& pending);

// Reads every record into a fresh fleet. Records that no longer parse are reported in `problems`
// and skipped, never silently dropped.
Status restore_fleet(StateStore& store, Fleet& fleet, TimePoint now,
                     std::vector<std::string>& problems);

// A replica's record as JSON: its stored form, and the base of the API's view of it.
nlohmann::json replica_fields(const ReplicaRecord& r);

// Picks the Deployment named `name` out of a manifest text (which may hold several documents).
Result<DeploymentSpec> deployment_from_manifest(const std::string& manifest,
                                                const std::string& name);

}  // namespace gf
