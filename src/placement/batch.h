// Places the replicas of a set of deployments, highest priority first: what `gpufleet pool` shows
// and what the controller's first reconcile does on an empty pool.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "placement/scheduler.h"

namespace gf {

struct ReplicaOutcome {
  std::string deployment;
  int replica = 0;           // index within the deployment
  bool reservation = false;  // a held burst-headroom slot, not a replica
  std::optional<AllocationId> allocation;
  ErrorCode code = ErrorCode::kUnschedulable;  // when pending
  std::string reason;                          // when pending
  size_t preemption_victims = 0;               // when preemption could make room
};

// Places replicas.min replicas of each deployment (then its reserveReplicas slots), in order of
// priority (high first), then name. Deployments' `owner` tenants are charged for quota.
std::vector<ReplicaOutcome> place_deployments(Pool& pool, const Scheduler& scheduler,
                                              const std::vector<DeploymentSpec>& deployments,
                                              TimePoint now);

}  // namespace gf
