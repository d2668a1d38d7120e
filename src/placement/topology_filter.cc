#include "placement/topology_filter.h"

namespace gf {

GpuPick TopologyFilter::pick(const PlacementContext& ctx, const Node& node, uint64_t usable) const {
  return pick_gpus(node, usable, ctx.request.gpus, ctx.request.topology);
}

}  // namespace gf
