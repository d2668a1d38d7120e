// The topology score: how well a multi-GPU candidate's GPUs are linked. Tensor parallelism
// all-reduces activations on every layer, so GPUs in one NVLink group serve faster than GPUs
// that talk over PCIe.
#pragma once

#include "placement/plugin.h"

namespace gf {

// 100 * (most of the candidate's GPUs inside one NVLink group) / (its GPUs): 100 when all share
// one group, 50 for a 4-GPU candidate split 2 + 2 across groups, 0 when all are PCIe-only. A
// single GPU or a share links nothing and scores 100 everywhere, so the score never moves it.
// Every candidate already lies on one node; this ranks candidates the topology filter let
// through, which matters for nvlink-preferred and any, where a node that can give one group
// should beat one that cannot. Not weighted by default (the filter already picks the best group
// on each node); give it a weight under spec.placement.scores to prefer linked nodes.
class TopologyScore final : public ScorePlugin {
 public:
  std::string_view name() const override { return "topology"; }
  void score(const PlacementContext& ctx, std::span<const Candidate> c,
             std::span<int64_t> out) const override;
};

}  // namespace gf
