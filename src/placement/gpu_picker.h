// Chooses which GPUs of one node a request gets, keeping NVLink groups whole for later requests.
#pragma once

#include <cstdint>

#include "common/spec.h"
#include "pool/inventory.h"

namespace gf {

struct GpuPick {
  uint64_t mask = 0;             // local indices chosen; 0 = no fit
  const char* reason = nullptr;  // why not, when mask is 0
};

// `usable` holds the local indices that passed every filter. Rules, after go-gpuallocator's
// anti-fragmentation idea: take the k GPUs from the NVLink group with the fewest usable GPUs that
// still has k (best fit), so large free groups stay intact; single GPUs come from PCIe-only GPUs
// first, then from the smallest group.
GpuPick pick_gpus(const Node& node, uint64_t usable, int k, TopologyPolicy topology);

}  // namespace gf
