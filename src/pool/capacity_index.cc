#include "pool/capacity_index.h"

namespace gf {

void CapacityIndex::add_model() {
  nodes_.emplace_back(), gpus_.emplace_back();
}
void CapacityIndex::add_node() {
  node_counts_.emplace_back();
}
void CapacityIndex::add_gpu() {
  entries_.emplace_back();
}

int CapacityIndex::empty_count(NodeIndex n, ModelIndex m, int tier) const {
  for (const auto& [model, counts] : node_counts_[n.value]) {
    if (model == m) return counts[tier];
  }
  return 0;
}

void CapacityIndex::bump(NodeIndex n, ModelIndex m, int tier, int delta) {
  auto& counts = node_counts_[n.value];
  auto it = counts.begin();
  while (it != counts.end() && it->first != m)
    ++it;
  if (it == counts.end()) {
    counts.push_back({m, {}});
    it = counts.end() - 1;
  }
  int& c = it->second[tier];
  auto& set = nodes_[m.value][tier];
  if (c > 0) set.erase({c, n});
  c += delta;
  if (c > 0) set.insert({c, n});
}

void CapacityIndex::update(GpuIndex gi, const Gpu& g, int max_shares) {
  GpuEntry& e = entries_[gi.value];
  for (int tier = 0; tier < kTiers; ++tier) {
    bool usable = allows_new_allocation(g.health, g.admin, tier == 1);
    bool empty = usable && g.empty();
    bool shareable =
        usable && g.shares < max_shares && g.memory_free().value > 0 && g.compute_free().value > 0;
    if (empty != e.empty[tier]) bump(g.node, g.model, tier, empty ? 1 : -1);
    if (e.shareable[tier]) gpus_[e.model.value][tier].erase({e.key, gi});
    if (shareable) gpus_[g.model.value][tier].insert({g.memory_free(), gi});
    e.empty[tier] = empty;
    e.shareable[tier] = shareable;
  }
  e.key = g.memory_free();
  e.node = g.node;
  e.model = g.model;
}

}  // namespace gf
