// Indexes of free capacity per GPU model, kept current by the pool on every change, so that
// placement looks at a few good candidates instead of scanning every GPU (10,000 GPUs, < 50 µs).
#pragma once

#include <array>
#include <set>
#include <utility>
#include <vector>

#include "pool/inventory.h"

namespace gf {

class CapacityIndex {
 public:
  // Tier 0 holds what any request may use; tier 1 also holds Reserved GPUs, for requests that
  // allow them.
  static constexpr int kTiers = 2;
  static int tier_for(bool allow_reserved) { return allow_reserved ? 1 : 0; }

  using NodeSet = std::set<std::pair<int, NodeIndex>>;  // (empty usable GPUs, node), count > 0
  using GpuSet = std::set<std::pair<MiB, GpuIndex>>;    // (free memory, GPU) of shareable GPUs

  void add_model();
  void add_node();
  void add_gpu();

  // Recomputes one GPU's entries after any change to its state or accounting.
  void update(GpuIndex gi, const Gpu& g, int max_shares);

  const NodeSet& nodes_by_empty(ModelIndex m, int tier) const { return nodes_[m.value][tier]; }
  const GpuSet& gpus_by_free_memory(ModelIndex m, int tier) const { return gpus_[m.value][tier]; }
  int empty_count(NodeIndex n, ModelIndex m, int tier) const;

 private:
  struct GpuEntry {
    std::array<bool, kTiers> empty{};      // counted in its node's empty count
    std::array<bool, kTiers> shareable{};  // present in gpus_
    MiB key{0};
    NodeIndex node;
    ModelIndex model;
  };
  void bump(NodeIndex n, ModelIndex m, int tier, int delta);

  std::vector<GpuEntry> entries_;
  std::vector<std::array<NodeSet, kTiers>> nodes_;  // per model
  std::vector<std::array<GpuSet, kTiers>> gpus_;    // per model
  // Per node: (model, tier counts). Nodes hold one or two models, so a short vector beats a map.
  std::vector<std::vector<std::pair<ModelIndex, std::array<int, kTiers>>>> node_counts_;
};

}  // namespace gf
