#include "sim/sim_setup.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>

#include "autoscale/policy_registry.h"
#include "perfmodel/batch_engine.h"
#include "perfmodel/deployment_perf.h"
#include "perfmodel/iteration_budget.h"
#include "perfmodel/replica_capacity.h"

namespace gf {

namespace {

// Whether the deployment's replicas may run on this GPU model (its gpuModels, or any).
bool may_use(const DeploymentSpec& d, const std::string& gpu) {
  const auto& allowed = d.resources.gpu_models;
  return allowed.empty() || std::find(allowed.begin(), allowed.end(), gpu) != allowed.end();
}

// `auto`, chosen for the trace's mean request and the run's SLO: the same engines under every
// policy of a comparison, whatever autoscaling settings each keeps.
BatchedTokensSpec trace_budget(const TraceStats& stats, const SloTarget& slo) {
  return BatchedTokensSpec{.automatic = true,
                           .prompt = Tokens(std::max<int64_t>(1, std::llround(stats.prompt.mean))),
                           .output = Tokens(std::max<int64_t>(1, std::llround(stats.output.mean))),
                           .ttft = slo.ttft,
                           .tpot = slo.tpot};
}

}  // namespace

Result<DeploymentSpec> default_deployment(const ClusterSpec& cluster, const Trace& trace,
                                          const std::string& model, int tp, const SloTarget& slo) {
  std::map<std::string, int> gpus;  // of the kinds the default serves on, by model
  for (const NodeSpec& n : cluster.nodes)
    for (const GpuGroupSpec& g : n.gpus)
      if (g.model == "A100-80GB" || g.model == "H100-80GB") gpus[g.model] += g.count;
  DeploymentSpec d;
  d.name = "trace";
  d.model = model;
  d.resources.gpus = tp;
  // The faster GPU first: the autoscaler reorders by value per dollar where prices are given.
  for (const char* gpu : {"H100-80GB", "A100-80GB"}) {
    if (!gpus.count(gpu) || !PerfModel::lookup(gpu, model, tp).ok()) continue;
    d.resources.gpu_models.push_back(gpu);
    d.replicas.max += gpus[gpu] / tp;
  }
  d.replicas.max -= 1;  // ReplicasSpec's default max is 1
  if (d.resources.gpu_models.empty())
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("the default deployment ({} on {} GPUs) needs A100-80GB or "
                                  "H100-80GB GPUs the perf model knows for it, and the cluster "
                                  "has none: give --deployments, or another --model/--tp",
                                  model, tp));
  if (d.replicas.max < 1)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("the default deployment needs {} GPUs per replica, and no node "
                                  "of the cluster has that many of one model",
                                  tp));
  d.replicas.min = 1;
  const TraceStats stats = summarize(trace);
  // Engines started with a budget chosen for the trace's own requests (iteration_budget.h).
  d.engine.max_batched_tokens = trace_budget(stats, slo);
  AutoscalingSpec a;
  a.policy = "target";
  a.metric = ScalingMetric::kRps;
  a.slo_ttft = slo.ttft;
  a.slo_tpot = slo.tpot;
  d.autoscaling = a;
  const auto rps = replica_capacity_rps(d, d.resources.gpu_models.front(),
                                        Tokens(static_cast<int64_t>(stats.prompt.mean)),
                                        Tokens(static_cast<int64_t>(stats.output.mean)));
  if (rps && *rps > 0) d.autoscaling->replica_capacity = *rps;
  if (auto pm = PerfModel::lookup(d.resources.gpu_models.front(), model, tp); pm.ok())
    d.autoscaling->cold_start =
        pm->cold_start(SimOptions{}.load_bytes_per_second, SimOptions{}.engine_init);
  return d;
}

Status set_iteration_budget(std::vector<DeploymentSpec>& deployments, const Trace& trace,
                            const SloTarget& slo, const std::string& value, bool chunked) {
  if (!chunked && value != "auto") {
    // The rule prices a chunk beside decodes; an engine without chunks runs whole prefills in
    // iterations of their own, and vLLM then needs a budget of at least its context length.
    for (DeploymentSpec& d : deployments)
      if (d.engine.max_batched_tokens && d.engine.max_batched_tokens->automatic)
        d.engine.max_batched_tokens.reset();
  }
  if (value.empty()) return {};
  std::optional<BatchedTokensSpec> budget;
  if (value == "auto") {
    budget = trace_budget(summarize(trace), slo);
  } else if (value != "default") {
    int64_t n = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || p != value.data() + value.size() || n < 1 ||
        n > kMaxBatchedTokensLimit)
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("--max-batched-tokens: \"{}\" is not auto, default or a "
                                    "number of tokens from 1 to {}",
                                    value, kMaxBatchedTokensLimit));
    budget = BatchedTokensSpec{.tokens = Tokens(n)};
  }
  for (DeploymentSpec& d : deployments)
    d.engine.max_batched_tokens = budget;
  return {};
}

std::map<std::string, std::map<std::string, int64_t>> iteration_budgets(const SimInput& input) {
  std::map<std::string, std::map<std::string, int64_t>> out;
  for (const DeploymentSpec& d : input.deployments)
    for (const NodeSpec& n : input.cluster.nodes)
      for (const GpuGroupSpec& g : n.gpus) {
        if (!may_use(d, g.model) || !deployment_perf_model(d, g.model).ok()) continue;
        out[d.name][g.model] = engine_iteration_budget(d, g.model)
                                   .value_or(PerfModel::default_max_batched_tokens(g.model))
                                   .value;
      }
  return out;
}

Status name_models(Trace& trace, const std::vector<DeploymentSpec>& deployments) {
  for (size_t i = 0; i < trace.requests.size(); ++i) {
    TraceRequest& r = trace.requests[i];
    if (!r.model.empty()) continue;
    if (deployments.size() != 1)
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("trace request {} names no model and {} deployments could "
                                    "serve it: map the trace to models (--models)",
                                    i + 1, deployments.size()));
    r.model = deployments.front().model;
  }
  return {};
}

namespace {

constexpr std::string_view kOnWork = "/work";

// The policies that size on the deployment's metric, and so can be run on work: all but those
// that size from the perf model themselves (slo, dynamo-sla).
bool reads_metric(std::string_view policy) {
  auto p = make_scaling_policy(policy);
  return p.ok() && !(*p)->uses_perf_model();
}

}  // namespace

std::vector<std::string> comparable_policies() {
  std::vector<std::string> out = scaling_policy_names();
  for (const std::string& p : scaling_policy_names())
    if (reads_metric(p)) out.push_back(p + std::string(kOnWork));
  out.push_back("fixed");
  return out;
}

Result<std::vector<DeploymentSpec>> with_policy(std::vector<DeploymentSpec> deployments,
                                                const std::string& policy) {
  const auto names = comparable_policies();
  if (std::find(names.begin(), names.end(), policy) == names.end())
    return make_error(ErrorCode::kInvalidArgument, fmt::format("unknown policy \"{}\" (known: {})",
                                                               policy, fmt::join(names, ", ")));
  for (DeploymentSpec& d : deployments) {
    // An `auto` budget follows the deployment's SLO targets; pinned here, so that every policy
    // of a comparison runs the same engines, `fixed` (which drops the autoscaling) included.
    if (auto& b = d.engine.max_batched_tokens; b && b->automatic && d.autoscaling) {
      if (!b->ttft) b->ttft = d.autoscaling->slo_ttft;
      if (!b->tpot) b->tpot = d.autoscaling->slo_tpot;
    }
    if (policy == "fixed") {
      d.autoscaling.reset();
      d.replicas.min = std::max(d.replicas.min, d.replicas.max);
      continue;
    }
    if (!d.autoscaling) d.autoscaling = AutoscalingSpec{};
    // "P/work": P on the work metric, sized for its share of one whole replica.
    if (policy.ends_with(kOnWork)) {
      d.autoscaling->policy = policy.substr(0, policy.size() - kOnWork.size());
      d.autoscaling->metric = ScalingMetric::kWork;
      d.autoscaling->replica_capacity = 1;
      continue;
    }
    d.autoscaling->policy = policy;
  }
  return deployments;
}

WorkBound workload_bound(const SimInput& input, const SimOptions& options) {
  const Trace& trace = *input.trace;
  std::map<std::string, MiB> memory;  // per GPU model in the cluster
  for (const NodeSpec& n : input.cluster.nodes)
    for (const GpuGroupSpec& g : n.gpus)
      memory.emplace(g.model, g.memory);

  // Prefix blocks other requests share (only when the engines cache prefixes: the trace has ids),
  // on the replay's clock: the warm-up's copies of the opening requests come first, and a
  // measured request may find its own blocks cached from its unmeasured run.
  std::vector<std::vector<uint64_t>> blocks;
  std::vector<Tokens> prompts;
  std::vector<Duration> arrivals;
  const Duration warmup = warmup_length(trace, options);
  for (const TraceRequest& r : trace.requests) {
    if (r.arrival >= warmup) break;
    blocks.push_back(r.prefix_blocks);
    prompts.push_back(r.prompt);
    arrivals.push_back(r.arrival);
  }
  const size_t first_measured = blocks.size();
  for (const TraceRequest& r : trace.requests) {
    blocks.push_back(r.prefix_blocks);
    prompts.push_back(r.prompt);
    arrivals.push_back(warmup + r.arrival);
  }
  const std::vector<Tokens> cacheable =
      cacheable_prefix(blocks, prompts, arrivals, options.slo.ttft, kTracePrefixBlockTokens);
  // What a cache could hold of a prompt at any later time: a preempted request's recompute.
  const std::vector<Tokens> shareable =
      cacheable_prefix(blocks, prompts, arrivals, Duration::max(), kTracePrefixBlockTokens);

  WorkBound total;
  std::set<std::string> counted;   // a model's requests are counted under its first deployment
  const BatchEngineConfig engine;  // the simulator's engines run with these defaults
  for (const DeploymentSpec& d : input.deployments) {
    if (!counted.insert(d.model).second) continue;
    std::vector<ReplicaShape> shapes;
    for (const auto& [gpu, mem] : memory) {
      if (!may_use(d, gpu)) continue;
      auto pm = deployment_perf_model(d, gpu);
      if (!pm.ok()) continue;
      ReplicaShape s;
      s.gpu = gpu;
      s.gpus = d.resources.gpus;
      if (auto p = input.cluster.placement.gpu_prices.find(gpu);
          p != input.cluster.placement.gpu_prices.end())
        s.price_per_gpu_hour = p->second;
      s.coef = pm->coefficients();
      s.kv_capacity = pm->kv_capacity(mem, PerfModel::kDefaultMemoryFraction);
      s.block_tokens = engine.block_tokens;
      s.max_num_seqs = engine.max_num_seqs;
      // The larger of the engine's default and the deployment's own: a bound for either (a
      // larger budget only lets an iteration's fixed cost be shared more widely).
      s.max_batched_tokens =
          Tokens(std::max(PerfModel::default_max_batched_tokens(gpu).value,
                          engine_iteration_budget(d, gpu).value_or(Tokens(0)).value));
      s.chunked_prefill = options.chunked_prefill;
      shapes.push_back(s);
    }
    std::vector<WorkItem> work;
    for (size_t i = 0; i < trace.requests.size(); ++i) {
      const TraceRequest& r = trace.requests[i];
      if (r.model != d.model) continue;
      work.push_back(WorkItem{r.prompt, r.output, cacheable[first_measured + i],
                              shareable[first_measured + i], r.arrival});
    }
    const WorkBound b = lower_bound_of(work, shapes, options.attainment_goal, options.slo);
    total.work_floor_gpu_hours += b.work_floor_gpu_hours;
    total.lower_bound_gpu_hours += b.lower_bound_gpu_hours;
    total.lower_bound_cost += b.lower_bound_cost;
    total.requests += b.requests;
    total.exempt += b.exempt;
    total.unservable += b.unservable;
    total.beyond_slo += b.beyond_slo;
  }
  return total;
}

}  // namespace gf
