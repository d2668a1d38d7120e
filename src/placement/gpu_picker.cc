#include "placement/gpu_picker.h"

#include <algorithm>
#include <bit>
#include <limits>
#include <vector>

namespace gf {
namespace {

// The k lowest set bits of `mask`.
uint64_t lowest_bits(uint64_t mask, int k) {
  uint64_t out = 0;
  for (int i = 0; i < k && mask != 0; ++i) {
    uint64_t bit = mask & (~mask + 1);
    out |= bit;
    mask &= ~bit;
  }
  return out;
}

}  // namespace

GpuPick pick_gpus(const Node& node, uint64_t usable, int k, TopologyPolicy topology) {
  if (std::popcount(usable) < k) return {0, "too few usable GPUs on the node"};

  // Best-fit NVLink group: fewest usable GPUs that is still >= k.
  int best = -1;
  int best_free = std::numeric_limits<int>::max();
  for (size_t i = 0; i < node.nvlink_groups.size(); ++i) {
    int free = std::popcount(node.nvlink_groups[i] & usable);
    if (free >= k && free < best_free) {
      best = static_cast<int>(i);
      best_free = free;
    }
  }
  uint64_t grouped = 0;
  for (uint64_t g : node.nvlink_groups)
    grouped |= g;

  if (k == 1) {
    // A lone GPU breaks no group: take PCIe-only GPUs first.
    if (uint64_t pcie = usable & ~grouped) return {lowest_bits(pcie, 1), nullptr};
    return {lowest_bits(node.nvlink_groups[best] & usable, 1), nullptr};
  }
  if (best >= 0) return {lowest_bits(node.nvlink_groups[best] & usable, k), nullptr};
  if (topology == TopologyPolicy::kNvlinkRequired)
    return {0, "no NVLink group with enough usable GPUs"};

  // No group fits: PCIe-only GPUs first, then from the groups with the fewest usable GPUs.
  uint64_t chosen = lowest_bits(usable & ~grouped, k);
  std::vector<uint64_t> groups = node.nvlink_groups;
  std::sort(groups.begin(), groups.end(), [&](uint64_t a, uint64_t b) {
    return std::popcount(a & usable) < std::popcount(b & usable);
  });
  for (uint64_t g : groups) {
    int missing = k - std::popcount(chosen);
    if (missing <= 0) break;
    chosen |= lowest_bits(g & usable & ~chosen, missing);
  }
  return {chosen, nullptr};
}

}  // namespace gf
