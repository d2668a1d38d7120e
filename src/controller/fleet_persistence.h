// Writes the fleet's records to a StateStore and reads them back after a restart. Keys:
//   /gpufleet/deployments/<name>   manifest as applied, target replica count, revision history
//   /gpufleet/replicas/<id>        placement (node, GPUs) and last known state
//   /gpufleet/meta/generation      the assignment generation counter (only ever grows)
//   /gpufleet/meta/owner           the controller process that writes (the write fence)
// Node liveness is not stored: after a restart every node gets one lease to report again.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "fleet/fleet.h"
#include "store/state_store.h"

namespace gf {

// A compare that every write carries: the owner key still has the revision this controller gave
// it. A controller that lost the store to another (a second process on the same data, later a
// new leader) then writes nothing at all instead of overwriting its successor's records.
struct WriteFence {
  std::string key;
  Revision revision = 0;
};
inline constexpr std::string_view kOwnerKey = "/gpufleet/meta/owner";

// Takes the store for `owner` (any id unique to this process): writes the owner key and returns
// the fence that later writes carry.
Result<WriteFence> claim_store(StateStore& store, const std::string& owner);

// The transactions that write `changes` as the fleet holds them now: each record's current value
// (or its deletion), and the generation counter. Encoding happens here, on the fleet's thread.
//
// What can be partial: a backend limits the operations per transaction (etcd's default is 128),
// so the writes are cut into transactions of at most 100. Each one is atomic and fenced, and each
// record stands alone, so no invariant spans two. If one fails, those before it are written and
// those after are not: the caller keeps the whole set and writes it again (every record with its
// then-current value), so the store converges on the fleet; a reader in between may see some
// records of the set new and others old.
std::vector<TxnRequest> plan_writes(const Fleet& fleet, const FleetChanges& changes,
                                    const std::optional<WriteFence>& fence);

// Runs planned transactions in order and stops at the first failure. A failed fence compare is an
// error (kFailedPrecondition) that says the store has another owner.
Status run_writes(StateStore& store, const std::vector<TxnRequest>& txns);

// plan_writes + run_writes in one call. On success `pending` is cleared; on failure it is kept
// whole, to be written again by the next call.
Status persist_changes(StateStore& store, const Fleet& fleet, FleetChanges& pending,
                       const std::optional<WriteFence>& fence = std::nullopt);

// Adds `more` to `into` (changes taken from the fleet and not yet durable).
void merge(FleetChanges& into, const FleetChanges& more);

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
