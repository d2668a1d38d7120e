#include "sim/capacity_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "perfmodel/deployment_perf.h"
#include "sim/sim_setup.h"

namespace gf {
namespace {

struct GpuType {
  std::string model;
  MiB memory{0};
  double price = 0;
  int replica_gpus = 1;  // the largest tensor-parallel size among the deployments that use it
};

// The cluster of a mix: 8-GPU nodes of one model each (the last one partial), NVLink within.
ClusterSpec cluster_of(const std::map<std::string, int>& mix, const std::vector<GpuType>& types,
                       const PlacementSpec& placement) {
  ClusterSpec c;
  c.name = "plan";
  c.placement = placement;
  for (const GpuType& t : types) {
    auto it = mix.find(t.model);
    int left = it == mix.end() ? 0 : it->second;
    for (int n = 0; left > 0; ++n) {
      const int count = std::min(8, left);
      left -= count;
      NodeSpec node;
      node.name = fmt::format("{}-{}", t.model, n);
      node.gpus.push_back(GpuGroupSpec{t.model, count, t.memory, t.price, {}});
      node.nvlink_groups.emplace_back();
      for (int i = 0; i < count; ++i)
        node.nvlink_groups.back().push_back(i);
      c.nodes.push_back(std::move(node));
    }
  }
  return c;
}

class Planner {
 public:
  Planner(const SimInput& base, const SimOptions& options, std::vector<DeploymentSpec> deployments,
          std::vector<GpuType> types, double hours)
      : base_(base),
        options_(options),
        deployments_(std::move(deployments)),
        types_(std::move(types)),
        hours_(hours) {}

  // Simulates a mix once (memoized).
  Result<const PlanOption*> run(const std::map<std::string, int>& mix) {
    if (auto it = tried_.find(mix); it != tried_.end()) return &it->second;
    SimInput in = base_;
    in.cluster = cluster_of(mix, types_, base_.cluster.placement);
    in.deployments = deployments_;
    int capacity = 0;
    for (DeploymentSpec& d : in.deployments) {
      // As many replicas as the mix holds of what the deployment may use.
      int replicas = 0;
      for (const auto& [model, n] : mix)
        if (d.resources.gpu_models.empty() ||
            std::count(d.resources.gpu_models.begin(), d.resources.gpu_models.end(), model))
          replicas += n / std::max(1, d.resources.gpus);
      if (replicas == 0) capacity = -1;  // a deployment with nowhere to run: nothing to simulate
      if (capacity < 0) continue;
      d.replicas.max = replicas;
      // Fixed: all of them throughout; autoscaled: from its own minimum up to all of them.
      d.replicas.min = d.autoscaling ? std::min(d.replicas.min, replicas) : replicas;
      capacity += replicas;
    }
    PlanOption o;
    o.gpus = mix;
    for (const GpuType& t : types_)
      if (auto it = mix.find(t.model); it != mix.end()) o.cost_per_hour += it->second * t.price;
    o.cost = o.cost_per_hour * hours_;
    if (capacity > 0) {
      auto r = simulate(in, options_);
      if (!r) return r.error();
      ++simulations_;
      o.slo_attainment = r->overall.slo_attainment;
      o.gpu_hours = r->overall.gpu_hours;
    }
    o.meets = o.slo_attainment >= options_.attainment_goal;
    return &tried_.emplace(mix, o).first->second;
  }

  // The fewest of `model` (in whole replicas), beside `fixed`, whose run meets the goal; nullopt
  // when even the ceiling does not.
  Result<std::optional<int>> fewest(const GpuType& t, std::map<std::string, int> fixed,
                                    int max_replicas) {
    const auto meets = [&](int replicas) -> Result<bool> {
      auto mix = fixed;
      if (replicas > 0) mix[t.model] = replicas * t.replica_gpus;
      auto o = run(mix);
      if (!o) return o.error();
      return (*o)->meets;
    };
    auto top = meets(max_replicas);
    if (!top) return top.error();
    if (!*top) return std::optional<int>{};
    int lo = 0, hi = max_replicas;  // meets(hi); lo: not known to meet
    while (hi - lo > 1) {
      const int mid = (lo + hi) / 2;
      auto m = meets(mid);
      if (!m) return m.error();
      (*m ? hi : lo) = mid;
    }
    if (lo == 0 && !fixed.empty()) {
      auto zero = meets(0);
      if (!zero) return zero.error();
      if (*zero) return std::optional<int>(0);
    }
    return std::optional<int>(hi);
  }

  CapacityPlan finish(const std::string& policy) {
    CapacityPlan p;
    p.policy = policy;
    p.simulations = simulations_;
    for (const auto& [mix, o] : tried_)
      p.options.push_back(o);
    std::stable_sort(p.options.begin(), p.options.end(),
                     [](const PlanOption& a, const PlanOption& b) {
                       if (a.meets != b.meets) return a.meets;
                       if (a.meets) return a.cost < b.cost;
                       return a.slo_attainment > b.slo_attainment;
                     });
    return p;
  }

  const std::vector<GpuType>& types() const { return types_; }

 private:
  const SimInput& base_;
  const SimOptions& options_;
  std::vector<DeploymentSpec> deployments_;
  std::vector<GpuType> types_;
  double hours_;
  std::map<std::map<std::string, int>, PlanOption> tried_;
  size_t simulations_ = 0;
};

}  // namespace

Result<CapacityPlan> plan_capacity(const SimInput& base, const SimOptions& options,
                                   const std::string& policy, PlanLimits limits) {
  auto deployments = with_policy(base.deployments, policy);
  if (!deployments) return deployments.error();
  // The GPU models the cluster names, with a perf model for some deployment.
  std::vector<GpuType> types;
  std::set<std::string> seen;
  for (const NodeSpec& n : base.cluster.nodes)
    for (const GpuGroupSpec& g : n.gpus) {
      if (!seen.insert(g.model).second) continue;
      GpuType t{g.model, g.memory, g.price_per_hour, 0};
      for (const DeploymentSpec& d : *deployments) {
        const bool allowed =
            d.resources.gpu_models.empty() ||
            std::count(d.resources.gpu_models.begin(), d.resources.gpu_models.end(), g.model);
        if (allowed && deployment_perf_model(d, g.model).ok())
          t.replica_gpus = std::max(t.replica_gpus, d.resources.gpus);
      }
      if (t.replica_gpus > 0) types.push_back(t);
    }
  if (types.empty())
    return make_error(ErrorCode::kInvalidArgument,
                      "no GPU model of the cluster can run a deployment (none is allowed, or "
                      "the perf model knows none of them for its model)");
  const double hours =
      base.trace->requests.empty()
          ? 0
          : std::chrono::duration<double>(base.trace->requests.back().arrival).count() / 3600;
  Planner planner(base, options, *deployments, types, hours);
  // Each model alone.
  std::map<std::string, int> alone;
  for (const GpuType& t : planner.types()) {
    auto n = planner.fewest(t, {}, limits.max_replicas);
    if (!n) return n.error();
    if (*n) alone[t.model] = **n;
  }
  // Pairs: the fewest of the second beside fewer of the first than it needs alone.
  for (const GpuType& a : planner.types())
    for (const GpuType& b : planner.types()) {
      if (a.model == b.model) continue;
      const int a_alone = alone.count(a.model) ? alone[a.model] : limits.max_replicas;
      for (int k = 1; k < a_alone; k = k < 4 ? k + 1 : k * 2) {
        auto n = planner.fewest(b, {{a.model, k * a.replica_gpus}},
                                alone.count(b.model) ? alone[b.model] : limits.max_replicas);
        if (!n) return n.error();
      }
    }
  return planner.finish(policy);
}

}  // namespace gf
