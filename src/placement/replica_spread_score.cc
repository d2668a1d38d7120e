#include "placement/replica_spread_score.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace gf {
namespace {

const std::string* zone_of(const Node& n) {
  for (const char* key : {"zone", "topology.kubernetes.io/zone"}) {
    if (auto it = n.labels.find(key); it != n.labels.end()) return &it->second;
  }
  return nullptr;
}

// 100 for the fewest, 0 for the most, linear between (all equal: 100).
int64_t spread(int count, int fewest, int most) {
  return most == fewest ? 100 : 100 * (most - count) / (most - fewest);
}

}  // namespace

void ReplicaSpreadScore::score(const PlacementContext& ctx, std::span<const Candidate> c,
                               std::span<int64_t> out) const {
  const std::optional<uint32_t> served = ctx.pool.find_served(ctx.request.model);
  if (!served) {  // no replica anywhere yet: nothing to spread from
    std::fill(out.begin(), out.end(), 100);
    return;
  }
  std::vector<int> on_node(c.size());
  bool zoned = false;
  for (size_t i = 0; i < c.size(); ++i) {
    on_node[i] = ctx.pool.replicas_serving(c[i].node, *served);
    zoned = zoned || zone_of(ctx.pool.node(c[i].node)) != nullptr;
  }
  const auto [lo, hi] = std::minmax_element(on_node.begin(), on_node.end());
  for (size_t i = 0; i < c.size(); ++i)
    out[i] = spread(on_node[i], *lo, *hi);
  if (!zoned) return;

  // Zones: the model's replicas per zone over the whole pool (only when nodes carry a zone, so
  // an unlabelled fleet pays nothing for it). A node without a zone is a zone of its own.
  std::map<std::string, int> per_zone;
  for (size_t n = 0; n < ctx.pool.node_count(); ++n) {
    const NodeIndex index{static_cast<uint32_t>(n)};
    if (const std::string* z = zone_of(ctx.pool.node(index)))
      per_zone[*z] += ctx.pool.replicas_serving(index, *served);
  }
  std::vector<int> in_zone(c.size());
  for (size_t i = 0; i < c.size(); ++i) {
    const std::string* z = zone_of(ctx.pool.node(c[i].node));
    in_zone[i] = z != nullptr ? per_zone[*z] : on_node[i];
  }
  const auto [zlo, zhi] = std::minmax_element(in_zone.begin(), in_zone.end());
  // The node counts twice: a node is lost far more often than a zone. (The worse of the two
  // would leave every candidate at 0 whenever the two disagree, and binpack would then pile
  // replicas onto one node; an even average halves the node term.)
  for (size_t i = 0; i < c.size(); ++i)
    out[i] = (2 * out[i] + spread(in_zone[i], *zlo, *zhi)) / 3;
}

}  // namespace gf
