// The topology filter: a multi-GPU replica's GPUs must be connected the way its spec asks
// (ResourceSpec::topology), and among the ways they can be, the one that keeps NVLink groups
// whole for later requests is taken. A hard rule: placement cannot run without it.
#pragma once

#include "placement/plugin.h"

namespace gf {

// Chooses the request's GPUs on a node with pick_gpus (gpu_picker.h): the best-fitting NVLink
// group; for nvlink-required, no node without one ("no NVLink group with enough usable GPUs");
// for nvlink-preferred and any, PCIe-only GPUs and the emptiest groups when no group fits.
class TopologyFilter final : public NodeFilter {
 public:
  std::string_view name() const override { return "topology"; }
  GpuPick pick(const PlacementContext& ctx, const Node& node, uint64_t usable) const override;
};

}  // namespace gf
