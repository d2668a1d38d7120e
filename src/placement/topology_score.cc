#include "placement/topology_score.h"

#include <algorithm>
#include <bit>

namespace gf {
namespace {

int64_t linked_percent(const Node& node, const Candidate& c) {
  const int gpus = c.count();
  if (gpus <= 1) return 100;
  int linked = 0;
  for (uint64_t group : node.nvlink_groups)
    linked = std::max(linked, std::popcount(group & c.mask));
  return int64_t{100} * linked / gpus;
}

}  // namespace

void TopologyScore::score(const PlacementContext& ctx, std::span<const Candidate> c,
                          std::span<int64_t> out) const {
  for (size_t i = 0; i < c.size(); ++i)
    out[i] = linked_percent(ctx.pool.node(c[i].node), c[i]);
}

}  // namespace gf
