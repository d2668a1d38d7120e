// Spreads a model's replicas over nodes and zones, so that losing one node (or zone) takes only
// its share of the model's capacity: kube-scheduler's PodTopologySpread, as a score.
#pragma once

#include "placement/plugin.h"

namespace gf {

// 100 for a candidate node that holds the fewest of the model's replicas among the candidates,
// down to 0 for the one that holds the most; the same for the node's zone (its "zone" label,
// or "topology.kubernetes.io/zone") when nodes are labelled, the node's term counting twice.
// Binpack still packs whole nodes with everything else; this only keeps one model off a single
// node. Without it, binpack and warm-affinity put every replica of a deployment on one node, and
// one agent loss queued every request for that model for 16 s (#17, defect 8).
class ReplicaSpreadScore final : public ScorePlugin {
 public:
  std::string_view name() const override { return "replica-spread"; }
  void score(const PlacementContext& ctx, std::span<const Candidate> c,
             std::span<int64_t> out) const override;
};

}  // namespace gf
