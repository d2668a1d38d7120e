#include "placement/scheduler.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>

#include "placement/filter_registry.h"
#include "placement/score_registry.h"

namespace gf {
namespace {

// "6 insufficient memory, 4 wrong GPU model", most common first.
std::string join_counts(const std::map<std::string, int>& counts) {
  std::vector<std::pair<int, std::string>> v;
  for (const auto& [reason, n] : counts)
    v.emplace_back(-n, reason);
  std::sort(v.begin(), v.end());
  std::string out;
  for (const auto& [n, reason] : v)
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", -n, reason);
  return out;
}

Candidate from_mask(const Pool& pool, NodeIndex n, uint64_t mask) {
  return Candidate{n, mask, pool.node(n).gpus[std::countr_zero(mask)]};
}

uint32_t next_same_popcount(uint32_t x) {
  uint32_t c = x & (~x + 1);
  uint32_t r = x + c;
  if (r == 0) return 0;  // wrapped: no larger mask with as many bits
  return (((r ^ x) >> 2) / c) | r;
}

// Visits the entries from `from` on: `s` from each end (the ends meet, so none twice), or all of
// them when exhaustive.
template <class Set, class Key, class Visit>
void walk_ends(const Set& set, const Key& from, size_t s, bool exhaustive, Visit visit) {
  auto lo = set.lower_bound(from);
  auto hi = set.end();
  for (size_t i = 0; lo != hi && (exhaustive || i < s); ++i, ++lo)
    visit(lo->second);
  for (size_t i = 0; hi != lo && i < s; ++i)
    visit((--hi)->second);
}

}  // namespace

GpuView view_of(const Pool& pool, GpuIndex gi) {
  const Gpu& g = pool.gpu(gi);
  return GpuView{gi, &g, g.memory_free(), g.compute_free(), g.shares};
}

std::vector<GpuView> node_views(const Pool& pool, NodeIndex node) {
  std::vector<GpuView> views;
  for (GpuIndex gi : pool.node(node).gpus)
    views.push_back(view_of(pool, gi));
  return views;
}

Result<Scheduler> Scheduler::create(const PlacementSpec& spec) {
  Scheduler s;
  s.spec_ = spec;
  for (const std::string& hard : required_placement_filters()) {
    if (std::find(spec.filters.begin(), spec.filters.end(), hard) == spec.filters.end()) {
      return make_error(
          ErrorCode::kInvalidArgument,
          fmt::format("placement filter \"{}\" enforces a hard rule and cannot be disabled", hard));
    }
  }
  for (const auto& name : spec.filters) {
    auto factory = placement_filters().lookup(name);
    if (!factory) return factory.error();
    s.add_filter((*factory)->make(spec));
  }
  for (const auto& [name, weight] : spec.score_weights) {
    if (weight < 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("score weight of \"{}\" must be >= 0, got {}", name, weight));
    }
    auto factory = placement_scores().lookup(name);
    if (!factory) return factory.error();
    if (weight > 0) s.scores_.push_back({(**factory)(spec), weight});
  }
  if (spec.sample_nodes < 1)
    return make_error(ErrorCode::kInvalidArgument, "sampleNodes must be at least 1");
  return s;
}

void Scheduler::add_filter(std::unique_ptr<FilterPlugin> plugin) {
  // Sorted by level once, here, so the per-GPU loop calls only GPU filters.
  if (const auto* f = dynamic_cast<const RequestFilter*>(plugin.get()))
    request_filters_.push_back(f);
  if (const auto* f = dynamic_cast<const GpuFilter*>(plugin.get())) gpu_filters_.push_back(f);
  if (const auto* f = dynamic_cast<const NodeFilter*>(plugin.get())) node_filters_.push_back(f);
  filters_.push_back(std::move(plugin));
}

const char* Scheduler::first_failure(const PlacementContext& ctx, const GpuView& v) const {
  for (const GpuFilter* f : gpu_filters_) {
    if (const char* why = f->filter(ctx, v)) return why;
  }
  return nullptr;
}

GpuPick Scheduler::pick_on_node(const PlacementContext& ctx, NodeIndex n, uint64_t usable) const {
  GpuPick pick{usable, nullptr};
  for (const NodeFilter* f : node_filters_) {
    pick = f->pick(ctx, ctx.pool.node(n), pick.mask);
    if (pick.mask == 0) return pick;
  }
  // The topology filter, a hard rule, always narrows to exactly the request's count.
  if (std::popcount(pick.mask) != ctx.request.gpus) return {0, "too few usable GPUs on the node"};
  return pick;
}

uint64_t Scheduler::usable_gpus(const PlacementContext& ctx, NodeIndex n,
                                const std::vector<GpuView>* adjusted, ReasonCounts* reasons) const {
  uint64_t mask = 0;
  const Node& node = ctx.pool.node(n);
  for (size_t i = 0; i < node.gpus.size(); ++i) {
    const char* why =
        first_failure(ctx, adjusted ? (*adjusted)[i] : view_of(ctx.pool, node.gpus[i]));
    if (why == nullptr) {
      mask |= uint64_t{1} << i;
    } else if (reasons != nullptr) {
      reasons->add(why);
    }
  }
  return mask;
}

std::optional<Candidate> Scheduler::try_node(const PlacementContext& ctx, NodeIndex n,
                                             ReasonCounts* reasons,
                                             const char** topo_reason) const {
  uint64_t usable = usable_gpus(ctx, n, nullptr, reasons);
  if (usable == 0) return std::nullopt;
  GpuPick pick = pick_on_node(ctx, n, usable);
  if (pick.mask == 0) {
    if (topo_reason != nullptr) *topo_reason = pick.reason;
    return std::nullopt;
  }
  return from_mask(ctx.pool, n, pick.mask);
}

std::optional<Candidate> Scheduler::try_gpu(const PlacementContext& ctx, GpuIndex gi) const {
  if (first_failure(ctx, view_of(ctx.pool, gi)) != nullptr) return std::nullopt;
  const Gpu& g = ctx.pool.gpu(gi);
  return Candidate{g.node, uint64_t{1} << g.local_index, gi};
}

// Draws candidates from both ends of the capacity index: the fullest feasible nodes (what
// bin-packing wants) and the emptiest (what spreading wants), `sample_nodes` of each per model.
// Exhaustive mode walks every indexed entry, so a miss by sampling never becomes a false "no fit".
std::vector<Candidate> Scheduler::candidates(const PlacementContext& ctx, bool exhaustive) const {
  std::vector<Candidate> out;
  const size_t s = static_cast<size_t>(spec_.sample_nodes);
  const CapacityIndex& index = ctx.pool.index();
  for (size_t m = 0; m < ctx.model_rank.size(); ++m) {
    if (ctx.model_rank[m] < 0) continue;
    ModelIndex model{static_cast<uint16_t>(m)};
    if (!ctx.request.fractional()) {
      walk_ends(index.nodes_by_empty(model, ctx.tier), std::pair(ctx.request.gpus, NodeIndex{0}), s,
                exhaustive, [&](NodeIndex n) {
                  if (auto c = try_node(ctx, n, nullptr, nullptr)) out.push_back(*c);
                });
    } else {
      MiB need = ctx.request.memory_per_gpu.value_or(MiB(1));
      walk_ends(index.gpus_by_free_memory(model, ctx.tier), std::pair(need, GpuIndex{0}), s,
                exhaustive, [&](GpuIndex g) {
                  if (auto c = try_gpu(ctx, g)) out.push_back(*c);
                });
    }
  }
  return out;
}

size_t Scheduler::best(const PlacementContext& ctx, const std::vector<Candidate>& cands) const {
  std::vector<int64_t> total(cands.size(), 0);
  std::vector<int64_t> part(cands.size(), 0);
  for (const auto& s : scores_) {
    s.plugin->score(ctx, cands, part);
    for (size_t i = 0; i < cands.size(); ++i)
      total[i] += s.weight * part[i];
  }
  // Ties go to the lowest node, then GPU, index, so decisions are reproducible.
  size_t best = 0;
  for (size_t i = 1; i < cands.size(); ++i) {
    if (total[i] > total[best] ||
        (total[i] == total[best] && std::pair(cands[i].node, cands[i].first) <
                                        std::pair(cands[best].node, cands[best].first))) {
      best = i;
    }
  }
  return best;
}

Decision Scheduler::place(const Pool& pool, const AllocationRequest& r,
                          PlaceOptions options) const {
  return place_impl(pool, r, true, options);
}

Decision Scheduler::place_impl(const Pool& pool, const AllocationRequest& r, bool use_slots,
                               PlaceOptions options) const {
  Decision d;
  if (r.gpus < 1 || (r.fractional() && r.gpus != 1) ||
      (r.memory_per_gpu && r.memory_per_gpu->value <= 0) ||
      (r.compute && (r.compute->value <= 0 || r.compute->value > 1000))) {
    d.code = ErrorCode::kInvalidArgument;
    d.reason = fmt::format(
        "invalid request: gpus must be >= 1 (got {}); a share needs gpus 1, memory > 0 and compute "
        "in (0, 1000m]",
        r.gpus);
    return d;
  }
  if (auto slot = use_slots ? pool.free_slot_for(r) : std::nullopt) {
    d.slot = slot;
    return d;
  }
  PlacementContext ctx(pool, r);
  for (const RequestFilter* f : request_filters_) {
    if (Status s = f->admit(ctx); !s.ok()) {
      d.code = s.error().code;
      d.reason = s.error().message;
      return d;
    }
  }
  std::vector<Candidate> cands = candidates(ctx, false);
  if (cands.empty()) cands = candidates(ctx, true);
  if (!cands.empty()) {
    d.placement = cands[best(ctx, cands)];
    return d;
  }
  d.code = feasible_on_empty_cluster(ctx) ? ErrorCode::kUnschedulable : ErrorCode::kInfeasible;
  if (options.explain) {
    diagnose(ctx, d);
  } else {
    d.reason = d.code == ErrorCode::kInfeasible
                   ? "infeasible: no node could hold it even empty and healthy"
                   : "no GPU fits now (placement ran without explanation)";
  }
  if (options.preempt && d.code == ErrorCode::kUnschedulable)
    d.preemption = plan_preemption(ctx, options);
  return d;
}

void Scheduler::diagnose(const PlacementContext& ctx, Decision& d) const {
  ReasonCounts gpu_reasons;
  ReasonCounts node_reasons;
  for (uint32_t n = 0; n < ctx.pool.node_count(); ++n) {
    const char* topo = nullptr;
    (void)try_node(ctx, NodeIndex{n}, &gpu_reasons, &topo);
    if (topo != nullptr) node_reasons.add(topo);
  }
  d.gpu_reasons = gpu_reasons.to_map();
  std::string need =
      ctx.request.gpus > 1 ? fmt::format(" (need {} on one node)", ctx.request.gpus) : "";
  d.reason = fmt::format("0/{} GPUs fit{}", ctx.pool.gpu_count(), need);
  if (!d.gpu_reasons.empty()) d.reason += ": " + join_counts(d.gpu_reasons);
  if (!node_reasons.empty()) {
    d.reason += "; nodes with usable GPUs: " + join_counts(node_reasons.to_map());
  }
  if (d.code == ErrorCode::kInfeasible) {
    d.reason += fmt::format(
        "; infeasible: no node could hold it even empty and healthy (gpus: {}, topology: {})",
        ctx.request.gpus, to_string(ctx.request.topology));
  }
}

bool Scheduler::feasible_on_empty_cluster(const PlacementContext& ctx) const {
  // Fast: each accepted model's largest shape. Exact for requests of one model; a request that
  // accepts several could still fit on a node mixing them, which the scan below checks.
  const AllocationRequest& r = ctx.request;
  int accepted = 0;
  for (size_t m = 0; m < ctx.model_rank.size(); ++m) {
    if (ctx.model_rank[m] < 0) continue;
    ++accepted;
    const ModelShape& s = ctx.pool.shape(ModelIndex{static_cast<uint16_t>(m)});
    if (r.fractional()) {
      if (!r.memory_per_gpu || *r.memory_per_gpu <= s.max_memory) return true;
    } else if (r.topology == TopologyPolicy::kNvlinkRequired && r.gpus > 1
                   ? s.max_linked >= r.gpus
                   : s.max_on_node >= r.gpus) {
      return true;
    }
  }
  if (accepted <= 1) return false;
  for (uint32_t n = 0; n < ctx.pool.node_count(); ++n) {
    const Node& node = ctx.pool.node(NodeIndex{n});
    uint64_t mask = 0;
    for (GpuIndex gi : node.gpus) {
      const Gpu& g = ctx.pool.gpu(gi);
      if (ctx.model_rank[g.model.value] < 0) continue;
      if (ctx.request.fractional() && ctx.memory_needed(g) > g.memory_total) continue;
      mask |= uint64_t{1} << g.local_index;
    }
    if (mask != 0 && pick_on_node(ctx, NodeIndex{n}, mask).mask != 0) return true;
  }
  return false;
}

namespace {
// Whether preempting the allocation stops a running replica (not an idle reservation slot).
bool runs_replica(const Allocation& a) {
  return !a.is_slot() || a.bound_replica.valid();
}

// The priority a victim is judged by: a slot in use is preempted with its replica, so the higher
// of the two.
int victim_priority(const Pool& pool, const Allocation& a) {
  if (!a.is_slot() || !a.bound_replica.valid()) return a.request.priority;
  const Allocation* bound = pool.allocation(a.bound_replica);
  return bound == nullptr ? a.request.priority
                          : std::max(a.request.priority, bound->request.priority);
}
}  // namespace

std::optional<PreemptionPlan> Scheduler::plan_preemption(const PlacementContext& ctx,
                                                         const PlaceOptions& options) const {
  const Pool& pool = ctx.pool;
  const int prio = ctx.request.priority;
  // Victims: strictly lower priority only, so a victim can never preempt its preemptor back.
  // A replica running in a reservation slot frees nothing by itself (the slot keeps the
  // capacity): it is a victim through its slot, which goes with it.
  std::map<NodeIndex, std::vector<const Allocation*>> by_node;
  for (const auto& [id, a] : pool.allocations()) {
    if (a.slot.valid() || victim_priority(pool, a) >= prio) continue;
    if (options.may_preempt && !options.may_preempt(a)) continue;
    by_node[a.node].push_back(&a);
  }
  struct Best {
    std::optional<PreemptionPlan> plan;
    std::tuple<size_t, int, int64_t, size_t> key;
  } best;

  for (auto& entry : by_node) {
    const NodeIndex n = entry.first;  // lambdas below capture it (clang 14 cannot capture bindings)
    auto& victims = entry.second;
    // Within a priority, idle reservation slots first: taking headroom stops nothing that runs.
    std::sort(victims.begin(), victims.end(), [&](const Allocation* a, const Allocation* b) {
      return std::tuple(victim_priority(pool, *a), runs_replica(*a), a->id) <
             std::tuple(victim_priority(pool, *b), runs_replica(*b), b->id);
    });
    const std::vector<GpuView> base = node_views(pool, n);
    auto fits_without = [&](const std::vector<const Allocation*>& set) -> std::optional<Candidate> {
      std::vector<GpuView> views = base;
      for (const Allocation* a : set) {
        for (GpuIndex gi : a->gpus) {
          GpuView& v = views[pool.gpu(gi).local_index];
          v.memory_free += a->memory_per_gpu;
          v.compute_free += a->compute_per_gpu;
          v.shares -= 1;
        }
      }
      uint64_t usable = usable_gpus(ctx, n, &views, nullptr);
      GpuPick pick = pick_on_node(ctx, n, usable);
      if (pick.mask == 0) return std::nullopt;
      return from_mask(pool, n, pick.mask);
    };
    if (!fits_without(victims)) continue;

    std::vector<const Allocation*> chosen;
    std::optional<Candidate> where;
    if (victims.size() <= 16) {
      // Exact: smallest subset first; among equals, the lowest (max, sum) of priorities, then
      // the fewest running replicas (idle slots are cheaper to take).
      const uint32_t all = (uint32_t{1} << victims.size()) - 1;
      std::tuple<int, int64_t, size_t> key_best{INT32_MAX, INT64_MAX, SIZE_MAX};
      for (size_t size = 1; size <= victims.size() && !where; ++size) {
        // Gosper's hack: every mask with exactly `size` bits, in increasing order.
        for (uint32_t mask = (uint32_t{1} << size) - 1; mask <= all && mask != 0;
             mask = next_same_popcount(mask)) {
          std::vector<const Allocation*> set;
          int maxp = INT32_MIN;
          int64_t sum = 0;
          size_t running = 0;
          for (size_t i = 0; i < victims.size(); ++i) {
            if (mask & (uint32_t{1} << i)) {
              set.push_back(victims[i]);
              maxp = std::max(maxp, victim_priority(pool, *victims[i]));
              sum += victim_priority(pool, *victims[i]);
              running += runs_replica(*victims[i]) ? 1 : 0;
            }
          }
          if (std::tuple(maxp, sum, running) >= key_best) continue;
          if (auto c = fits_without(set)) {
            key_best = {maxp, sum, running};
            where = c;
            chosen = std::move(set);
          }
        }
      }
    } else {
      // Greedy: lowest priority first until it fits, then drop any victim not needed.
      for (const Allocation* a : victims) {
        chosen.push_back(a);
        if (fits_without(chosen)) break;
      }
      for (size_t i = chosen.size(); i-- > 0;) {
        auto without = chosen;
        without.erase(without.begin() + static_cast<std::ptrdiff_t>(i));
        if (fits_without(without)) chosen = std::move(without);
      }
      where = fits_without(chosen);
    }
    if (!where) continue;
    int maxp = INT32_MIN;
    int64_t sum = 0;
    size_t running = 0;  // victims that run a replica (not idle slots)
    for (const Allocation* a : chosen) {
      maxp = std::max(maxp, victim_priority(pool, *a));
      sum += victim_priority(pool, *a);
      running += runs_replica(*a) ? 1 : 0;
    }
    std::tuple<size_t, int, int64_t, size_t> key{chosen.size(), maxp, sum, running};
    if (!best.plan || key < best.key) {
      PreemptionPlan plan{*where, {}};
      for (const Allocation* a : chosen)
        plan.victims.push_back(a->id);
      best.plan = std::move(plan);
      best.key = key;
    }
  }
  return best.plan;
}

Result<AllocationId> Scheduler::schedule(Pool& pool, const AllocationRequest& request,
                                         TimePoint now) const {
  Decision d = place(pool, request);
  if (d.slot) return pool.bind_slot(*d.slot, request, now);
  if (d.placement) return pool.commit(request, d.placement->node, d.placement->gpus(pool), now);
  std::string msg = d.reason;
  if (d.preemption) {
    msg += fmt::format("; preempting {} lower-priority allocation(s) would make room",
                       d.preemption->victims.size());
  }
  return make_error(d.code, msg);
}

Result<ReservationId> Scheduler::reserve(Pool& pool, const AllocationRequest& request, int count,
                                         TimePoint now) const {
  if (count < 1)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("a reservation needs at least 1 slot, got {}", count));
  ReservationId rid = pool.create_reservation(request.deployment);
  for (int i = 0; i < count; ++i) {
    Result<AllocationId> r = hold_slot(pool, rid, request, now);
    if (!r) {
      (void)pool.release_reservation(rid, now);
      return make_error(r.error().code, fmt::format("could hold only {} of {} slots for {}: {}", i,
                                                    count, request.deployment, r.error().message));
    }
  }
  return rid;
}

Result<AllocationId> Scheduler::hold_slot(Pool& pool, ReservationId reservation,
                                          const AllocationRequest& request, TimePoint now,
                                          bool explain) const {
  Decision d = place_impl(pool, request, false, PlaceOptions{explain, false});
  if (!d.placement) return make_error(d.code, d.reason);
  return pool.commit(request, d.placement->node, d.placement->gpus(pool), now, reservation);
}

}  // namespace gf
