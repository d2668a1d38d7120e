// The desired-state specs users write in manifests (kinds Cluster, Deployment, Tenant), as plain
// values. The YAML parser in manifest.h fills them; the core reads them and never sees YAML.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/units.h"

namespace gf {

// ---- Cluster ---------------------------------------------------------------------------------

// A run of identical GPUs on a node, e.g. "4x A100-80GB".
struct GpuGroupSpec {
  std::string model;  // "A100-80GB", "H100-80GB", "L40S" ...
  int count = 1;
  MiB memory{0};                   // per GPU
  double price_per_hour = 0.0;     // USD per GPU-hour; scoring only, never resource arithmetic
  std::vector<std::string> uuids;  // optional; generated from node name and index when empty
  // MIG profiles each GPU of the group is divided into ("3g.40gb", ...); empty = MIG off. Only
  // the fake GPU provider reads it: a real node's MIG layout comes from NVML.
  std::vector<std::string> mig;
};

struct NodeSpec {
  std::string name;
  std::map<std::string, std::string> labels;
  std::vector<GpuGroupSpec> gpus;
  // NVLink cliques as lists of node-local GPU indices. Empty = PCIe only.
  std::vector<std::vector<int>> nvlink_groups;
};

// How placement decides: which plugins run and how much each score weighs.
struct PlacementSpec {
  // Names from placement's filter registry (src/placement/filter_registry.cc, docs/placement.md).
  // The hard rules (health, model, memory, topology) must be listed; tenant-quota is optional.
  std::vector<std::string> filters = {"health", "model", "memory", "topology", "tenant-quota"};
  // Names from placement's score registry (src/placement/score_registry.cc), weight 0..1000.
  // replica-spread outweighs binpack and warm-affinity together, so a deployment's replicas go
  // to different nodes when they can, and model-preference outweighs it, so they stay on the
  // GPU model the user put first (docs/placement.md, "Default weights", shows the sums).
  std::map<std::string, int> score_weights = {{"model-preference", 10},
                                              {"replica-spread", 3},
                                              {"binpack", 3},
                                              {"warm-affinity", 1},
                                              {"cost-efficiency", 1}};
  int sample_nodes = 16;  // candidates read from each end of the capacity index per model
  int max_shares_per_gpu = 8;
  std::map<std::string, double> capacity_hints;   // relative throughput per GPU model
  std::map<std::string, double> gpu_prices;       // USD per GPU-hour by model, from the nodes
  std::map<std::string, MilliGpu> tenant_quotas;  // filled from Tenant manifests
};

struct ClusterSpec {
  std::string name;
  std::vector<NodeSpec> nodes;
  PlacementSpec placement;
};

// ---- Deployment ------------------------------------------------------------------------------

enum class EngineType { kVllm, kSglang, kTrtllm, kLlamaCpp, kEngineSim };

// engine.maxBatchedTokens: how many tokens one engine iteration may carry, its prompt chunks and
// one per decode (vLLM's
// --max-num-batched-tokens, SGLang's --chunked-prefill-size, TensorRT-LLM's --max_num_tokens,
// llama.cpp's --batch-size). `automatic`: chosen from the deployment's TPOT target
// (perfmodel/iteration_budget.h) for requests of `prompt` and `output` tokens and the targets
// `ttft` and `tpot` (unset: the deployment's autoscaling.slo, else 1 s and 100 ms); a manifest
// takes these defaults, `gpufleet sim` sets its trace's mean request and its SLO. Else `tokens`.
struct BatchedTokensSpec {
  bool automatic = false;
  Tokens tokens{0};
  Tokens prompt{512};
  Tokens output{128};
  std::optional<Duration> ttft;
  std::optional<Duration> tpot;
  bool operator==(const BatchedTokensSpec&) const = default;
};
// The largest budget, prompt or output a manifest or `gpufleet sim --max-batched-tokens` takes.
inline constexpr int64_t kMaxBatchedTokensLimit = int64_t{1} << 24;

struct EngineSpec {
  EngineType type = EngineType::kEngineSim;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::optional<BatchedTokensSpec> max_batched_tokens;  // absent: the engine's own default
};

// How the GPUs of a multi-GPU replica must be connected.
enum class TopologyPolicy {
  kNvlinkRequired,   // all GPUs in one NVLink clique (default for tensor parallelism)
  kNvlinkPreferred,  // one clique if possible, otherwise any GPUs on the node
  kAny,              // any GPUs on one node
};

struct ResourceSpec {
  int gpus = 1;  // whole GPUs per replica (the tensor-parallel size)
  // Fractional replica: a share of one GPU by memory (and optionally compute). Only with gpus: 1.
  std::optional<MiB> memory_per_gpu;
  std::optional<MilliGpu> compute;
  std::vector<std::string> gpu_models;  // preference order; empty = any model
  bool allow_reserved = false;          // may use GPUs in the Reserved (low free memory) state
  TopologyPolicy topology = TopologyPolicy::kNvlinkRequired;
};

struct ReplicasSpec {
  int min = 1;
  int max = 1;
};

enum class RolloutStrategy { kRolling, kBlueGreen, kCanary };

struct CanaryStep {
  int weight_percent = 0;
  Duration pause{0};
};

struct RolloutSpec {
  RolloutStrategy strategy = RolloutStrategy::kRolling;
  int max_surge = 1;
  int max_unavailable = 0;
  std::vector<CanaryStep> steps;
};

// Engine latency given by hand, for a (GPU, model) pair the fitted perf model does not know.
// Milliseconds; the meaning of each term is in src/perfmodel/perf_model.h (PerfCoefficients).
struct PerformanceSpec {
  double prefill_base_ms = 0;
  double prefill_per_token_ms = 0;
  double prefill_per_token2_ms = 0;
  double decode_base_ms = 0;
  double decode_per_seq_ms = 0;
  double decode_per_ctx_token_ms = 0;
};

// What the autoscaler reads a deployment's load as, per replica.
enum class ScalingMetric {
  kConcurrency,  // requests queued or in flight (Knative's default)
  kRps,          // requests arriving per second
  // Replicas' worth of work arriving: prompt tokens/s over a replica's prefill rate plus output
  // tokens/s over its batched decode rate within the TPOT target, by the perf model for the
  // requests' recent mean sizes (perfmodel/token_rates.h). Follows the requests' sizes, which
  // a count of requests does not; replica_capacity is then a share of one replica (1 = all of it).
  kWork,
};

// How a deployment's replica count follows its load (src/autoscale, docs/autoscaling.md). Absent
// from a DeploymentSpec: the count is fixed (replicas.min, or what `gpufleet scale` sets).
struct AutoscalingSpec {
  std::string policy = "target";  // a name from src/autoscale/policy_registry.cc
  ScalingMetric metric = ScalingMetric::kConcurrency;
  double replica_capacity = 8;      // what one replica takes, in the metric's unit (work: 1)
  double target_utilization = 0.7;  // target: aim for this share of replica_capacity
  Duration period{std::chrono::seconds(1)};   // control period
  Duration window{std::chrono::seconds(10)};  // the metric is averaged over this
  // The mean request sizes that price the work metric and the perf model's capacity are taken
  // over this: a size mean converges far slower than a rate (one 80k-token prompt among thirty
  // short ones moves it severalfold), docs/autoscaling.md.
  Duration size_window{std::chrono::seconds(60)};
  // threshold (the classic rule)
  double scale_up_threshold = 0.8;
  double scale_down_threshold = 0.3;
  Duration scale_up_cooldown{std::chrono::seconds(60)};
  Duration scale_down_cooldown{std::chrono::seconds(300)};
  // target (Kubernetes HPA + Knative KPA)
  double tolerance = 0.1;
  Duration stabilization{std::chrono::seconds(300)};  // scale down to the highest recent advice
  double panic_threshold = 2.0;                       // load / capacity that starts a panic
  Duration panic_window{std::chrono::seconds(6)};
  // predictive and slo
  Duration cold_start{std::chrono::seconds(60)};  // forecast horizon = cold start + period
  Duration season{std::chrono::hours(24)};
  double max_forecast_error = 0.3;   // above it, predictive falls back to target
  std::optional<Duration> slo_ttft;  // slo: p95 targets
  std::optional<Duration> slo_tpot;
  double headroom = 0.1;
  // common to all
  int max_step_up = 0;    // replicas added per period; 0 = max(4, current) (HPA's default)
  int max_step_down = 0;  // replicas removed per period; 0 = no limit
  Duration scale_to_zero_after{std::chrono::seconds(300)};  // idle this long (needs min 0)
};

struct DeploymentSpec {
  std::string name;
  std::string model;
  EngineSpec engine;
  ResourceSpec resources;
  ReplicasSpec replicas;
  int priority = 0;                  // higher wins; may preempt strictly lower
  std::vector<std::string> tenants;  // tenants whose requests it serves; empty = every tenant
  std::string owner;                 // tenant whose GPU quota its replicas count against
  int reserve_replicas = 0;          // burst headroom held for this deployment only
  RolloutSpec rollout;
  std::string routing = "least-work";          // a name from src/routing/policy_registry.cc
  std::optional<PerformanceSpec> performance;  // hand-given latency model
  std::optional<AutoscalingSpec> autoscaling;  // absent: a fixed replica count
};

// ---- Tenant ----------------------------------------------------------------------------------

struct TenantSpec {
  std::string name;
  int weight = 1;  // fair-share weight
  int priority = 0;
  std::vector<std::string> api_key_hashes;  // "sha256:<hex>"; keys are never stored in clear
  std::optional<double> requests_per_second;
  std::optional<Tokens> tokens_per_minute;
  std::optional<int> max_concurrency;
  std::optional<MilliGpu> gpu_quota;  // cap on GPU shares held by this tenant's deployments
  std::vector<std::string> models;    // empty = every model
};

const char* to_string(EngineType t);
const char* to_string(TopologyPolicy t);
const char* to_string(RolloutStrategy s);
const char* to_string(ScalingMetric m);

}  // namespace gf
