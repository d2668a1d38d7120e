#include "placement/defragmentation.h"

#include <algorithm>
#include <map>
#include <set>

#include "pool/gpu_state.h"

namespace gf {

namespace {

// Whether GPU g could take the request if it were empty: its model is one the request accepts
// and its state admits new allocations.
bool could_take(const Pool& pool, const Gpu& g, const AllocationRequest& r) {
  return allows_new_allocation(g.health, g.admin, r.allow_reserved) &&
         model_allowed(r, pool.model_name(g.model));
}

// One candidate node: the allocations to move off it, cheapest GPUs first.
struct NodeOption {
  NodeIndex node;
  std::vector<AllocationId> movers;
  int moved_gpus = 0;
};

}  // namespace

std::optional<DefragPlan> plan_defragmentation(const Scheduler& scheduler, const Pool& pool,
                                               const AllocationRequest& request,
                                               const DefragOptions& options, TimePoint now) {
  if (request.fractional() || request.gpus < 2 || options.max_moves <= 0) return std::nullopt;
  const PlaceOptions quick{false, false};
  if (scheduler.place(pool, request, quick).placed()) return std::nullopt;

  // Which allocations hold each GPU, and how many GPUs of the request's models are free.
  std::map<uint32_t, std::vector<const Allocation*>> on_gpu;
  for (const auto& [id, a] : pool.allocations()) {
    for (GpuIndex g : a.gpus)
      on_gpu[g.value].push_back(&a);
  }
  auto movable = [&](const Allocation& a) {
    if (a.is_slot() || a.slot.valid()) return false;  // reserves stay with their deployment
    if (static_cast<int>(a.gpus.size()) >= request.gpus) return false;  // only smaller ones
    return !options.may_move || options.may_move(a);
  };
  DefragPlan plan;
  std::vector<NodeOption> nodes;
  for (uint32_t n = 0; n < pool.node_count(); ++n) {
    const Node& node = pool.node(NodeIndex{n});
    if (node.lost) continue;
    int free_here = 0;
    // Occupied GPUs this request could use, by how many GPUs their allocations hold in all
    // (moving a 2-GPU allocation frees two), cheapest first; a GPU held by anything that may not
    // move is no use.
    std::vector<std::pair<int, uint32_t>> occupied;
    for (GpuIndex gi : node.gpus) {
      const Gpu& g = pool.gpu(gi);
      if (!could_take(pool, g, request)) continue;
      if (g.empty()) {
        ++free_here;
        continue;
      }
      int cost = 0;
      bool ok = true;
      for (const Allocation* a : on_gpu[gi.value]) {
        ok = ok && movable(*a);
        cost += static_cast<int>(a->gpus.size());
      }
      if (ok) occupied.emplace_back(cost, gi.value);
    }
    plan.free_gpus += free_here;
    plan.most_free_on_a_node = std::max(plan.most_free_on_a_node, free_here);
    const int missing = request.gpus - free_here;
    if (missing <= 0 || static_cast<int>(occupied.size()) < missing) continue;
    std::sort(occupied.begin(), occupied.end());
    NodeOption option{NodeIndex{n}, {}, 0};
    std::set<uint64_t> chosen;
    // GPUs whose every allocation moves: a mover that spans GPUs frees them all at once.
    auto freed = [&] {
      int n = 0;
      for (const auto& [cost, g] : occupied) {
        bool all = true;
        for (const Allocation* a : on_gpu[g])
          all = all && chosen.contains(a->id.value);
        n += all;
      }
      return n;
    };
    for (const auto& [cost, g] : occupied) {
      if (freed() >= missing) break;
      for (const Allocation* a : on_gpu[g]) {
        if (chosen.insert(a->id.value).second) {
          option.movers.push_back(a->id);
          option.moved_gpus += static_cast<int>(a->gpus.size());
        }
      }
    }
    if (static_cast<int>(option.movers.size()) <= options.max_moves)
      nodes.push_back(std::move(option));
  }
  if (plan.free_gpus < request.gpus) return std::nullopt;  // load, not fragmentation
  std::stable_sort(nodes.begin(), nodes.end(), [](const NodeOption& a, const NodeOption& b) {
    return std::pair(a.movers.size(), a.moved_gpus) < std::pair(b.movers.size(), b.moved_gpus);
  });

  for (const NodeOption& option : nodes) {
    // What if: the movers gone, the request on the node, then each mover placed again (the
    // biggest first) on what is left. Movers may land anywhere but the request's GPUs.
    Pool after = pool;
    std::vector<AllocationRequest> movers;
    for (AllocationId id : option.movers) {
      movers.push_back(pool.allocation(id)->request);
      (void)after.release(id, now);
    }
    Decision d = scheduler.place(after, request, quick);
    if (!d.placement || d.placement->node.value != option.node.value) continue;
    if (!after.commit(request, d.placement->node, d.placement->gpus(after), now)) continue;
    std::vector<size_t> order(movers.size());
    for (size_t i = 0; i < order.size(); ++i)
      order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return movers[a].gpus > movers[b].gpus; });
    std::vector<DefragMove> moves(movers.size());
    bool all = true;
    for (size_t i : order) {
      Decision m = scheduler.place(after, movers[i], quick);
      if (!m.placement) {
        all = false;
        break;
      }
      (void)after.commit(movers[i], m.placement->node, m.placement->gpus(after), now);
      moves[i] = DefragMove{option.movers[i], *m.placement};
    }
    if (!all) continue;
    plan.placement = *d.placement;
    plan.moves = std::move(moves);
    return plan;
  }
  return std::nullopt;
}

}  // namespace gf
