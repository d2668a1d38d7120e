// What a replica asks for (AllocationRequest) and what it holds once placed (Allocation).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/spec.h"
#include "common/units.h"

namespace gf {

struct AllocationRequest {
  std::string deployment;  // owner; reservations and warm affinity key on it
  std::string model;       // the served model (e.g. "meta-llama/Llama-2-70b-hf"); warm affinity
  std::string tenant;      // quota accounting; empty = no tenant
  int gpus = 1;            // whole GPUs on one node (tensor parallelism)
  // Fractional share of one GPU (gpus must be 1): memory, and compute (defaults to the memory
  // fraction of the chosen GPU, rounded up).
  std::optional<MiB> memory_per_gpu;
  std::optional<MilliGpu> compute;
  std::vector<std::string> gpu_models;  // preference order; empty = any
  bool allow_reserved = false;
  TopologyPolicy topology = TopologyPolicy::kNvlinkRequired;
  int priority = 0;

  bool fractional() const { return memory_per_gpu.has_value() || compute.has_value(); }
};

// Builds the request one replica of a deployment makes.
AllocationRequest request_for(const DeploymentSpec& d, const std::string& tenant = "");
// Whether the request accepts GPUs of this model (by catalogue name; no list: any).
bool model_allowed(const AllocationRequest& r, const std::string& model);

struct Allocation {
  AllocationId id;
  AllocationRequest request;
  NodeIndex node;
  std::vector<GpuIndex> gpus;
  MiB memory_per_gpu{0};  // what was committed on each GPU
  MilliGpu compute_per_gpu{0};
  // A reservation slot holds capacity for its deployment; a replica bound to a slot commits
  // nothing itself and gives the slot back on release.
  ReservationId reservation;   // set on slot allocations
  AllocationId bound_replica;  // slot: the replica using it, if any
  AllocationId slot;           // replica: the slot it runs in, if any

  bool is_slot() const { return reservation.valid(); }
};

}  // namespace gf
