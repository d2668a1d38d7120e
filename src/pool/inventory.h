// The GPU inventory as plain data: nodes, GPUs, their telemetry and what is committed on each.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/units.h"
#include "pool/gpu_state.h"

namespace gf {

// Interned GPU model name ("A100-80GB" -> 0), so indexes key on small integers.
struct ModelIndex {
  uint16_t value = 0;
  auto operator<=>(const ModelIndex&) const = default;
};

// Last reported sample; the agent fills it, placement and the summary read it.
struct GpuTelemetry {
  int utilization_pct = 0;
  int temperature_c = 0;
  int power_w = 0;
  MiB memory_used{0};
  uint64_t ecc_double_bit = 0;
  int last_xid = 0;
};

struct Gpu {
  std::string uuid;
  NodeIndex node;
  int local_index = 0;  // index on its node, as CUDA_VISIBLE_DEVICES counts
  ModelIndex model;
  MiB memory_total{0};
  double price_per_hour = 0.0;
  uint64_t nvlink_peers = 0;  // bitmask of local indices this GPU shares an NVLink clique with
  int nvlink_group = -1;      // index into Node::nvlink_groups, -1 = PCIe only

  Health health = Health::kHealthy;
  AdminState admin = AdminState::kNone;
  std::string state_reason;

  // Accounting. A whole-GPU allocation commits all memory and compute.
  MiB memory_committed{0};
  MilliGpu compute_committed{0};
  int shares = 0;  // allocations holding part or all of this GPU

  GpuTelemetry telemetry;

  MiB memory_free() const { return memory_total - memory_committed; }
  MilliGpu compute_free() const { return kWholeGpu - compute_committed; }
  bool empty() const { return shares == 0; }
  GpuState state() const { return effective_state(health, admin); }
};

struct Node {
  std::string name;
  std::map<std::string, std::string> labels;
  std::vector<GpuIndex> gpus;           // by local index
  std::vector<uint64_t> nvlink_groups;  // bitmasks of local indices
  bool lost = false;
};

}  // namespace gf
