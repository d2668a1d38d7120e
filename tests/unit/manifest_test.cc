#include "common/io/manifest.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "autoscale/policy_registry.h"
#include "placement/placement_names.h"
#include "routing/policy_registry.h"

namespace gf {
namespace {

// The names the registries hold, as every shell passes them.
ExtensionNames names() {
  return {placement_names(), policy_names(), scaling_policy_names()};
}

// True when some diagnostic has this path and its message contains `needle`.
::testing::AssertionResult has_diag(const ParsedManifests& r, const std::string& path,
                                    const std::string& needle, int line = -1) {
  for (const auto& d : r.diagnostics) {
    if (d.path == path && d.message.find(needle) != std::string::npos &&
        (line < 0 || d.line == line)) {
      return ::testing::AssertionSuccess();
    }
  }
  std::string all;
  for (const auto& d : r.diagnostics)
    all += "\n  " + d.format();
  return ::testing::AssertionFailure()
         << "no diagnostic at " << path << " containing \"" << needle << "\"; got:" << all;
}

constexpr const char* kCluster = R"(apiVersion: gpufleet/v1
kind: Cluster
metadata:
  name: lab
spec:
  nodes:
    - name: node-1
      labels: {zone: a}
      gpus:
        - model: A100-80GB
          count: 4
          memory: 80GiB
          pricePerHour: 1.8
      nvlink: all
    - name: node-2
      gpus:
        - {model: H100-80GB, count: 2, memory: 80GiB, uuids: [GPU-a, GPU-b]}
      nvlink: [[0, 1]]
)";

TEST(Manifest, ParsesAValidCluster) {
  auto r = parse_manifests(kCluster, "c.yaml", names());
  ASSERT_TRUE(r.ok()) << r.diagnostics[0].format();
  ASSERT_EQ(r.manifests.clusters.size(), 1u);
  const auto& c = r.manifests.clusters[0];
  EXPECT_EQ(c.name, "lab");
  ASSERT_EQ(c.nodes.size(), 2u);
  EXPECT_EQ(c.nodes[0].labels.at("zone"), "a");
  EXPECT_EQ(c.nodes[0].gpus[0].count, 4);
  EXPECT_EQ(c.nodes[0].gpus[0].memory, MiB(81920));
  EXPECT_DOUBLE_EQ(c.nodes[0].gpus[0].price_per_hour, 1.8);
  // The price table by model, for a controller whose GPUs come from agents.
  EXPECT_EQ(c.placement.gpu_prices, (std::map<std::string, double>{{"A100-80GB", 1.8}}));
  EXPECT_EQ(c.nodes[0].nvlink_groups, (std::vector<std::vector<int>>{{0, 1, 2, 3}}));
  EXPECT_EQ(c.nodes[1].gpus[0].uuids, (std::vector<std::string>{"GPU-a", "GPU-b"}));
}

// #16: GPU names go through the catalogue, and a node's GPUs may be divided into MIG devices
// (read by the fake GPU provider), with errors that say what is wrong with the layout.
TEST(Manifest, GpuNamesAreCatalogueNamesAndMigLayoutsAreChecked) {
  const char* good = R"(apiVersion: gpufleet/v1
kind: Cluster
metadata: {name: lab}
spec:
  nodes:
    - {name: n, gpus: [{model: "NVIDIA A100-SXM4-80GB", memory: 80GiB, mig: [3g.40gb, 2g.20gb, 2g.20gb]}]}
    - {name: m, gpus: [{model: A100, memory: 40GiB}, {model: L4, memory: 24GiB}]}
)";
  auto r = parse_manifests(good, "c.yaml", names());
  ASSERT_TRUE(r.ok()) << r.diagnostics[0].format();
  const auto& c = r.manifests.clusters[0];
  EXPECT_EQ(c.nodes[0].gpus[0].model, "A100-80GB");
  EXPECT_EQ(c.nodes[0].gpus[0].mig, (std::vector<std::string>{"3g.40gb", "2g.20gb", "2g.20gb"}));
  EXPECT_EQ(c.nodes[1].gpus[0].model, "A100-40GB");  // the memory picks the size
  EXPECT_EQ(c.nodes[1].gpus[1].model, "L4-24GB");

  const char* bad = R"(apiVersion: gpufleet/v1
kind: Cluster
metadata: {name: lab}
spec:
  nodes:
    - {name: n, gpus: [{model: A100-80GB, memory: 80GiB, mig: [3g.40gb, 4g.40gb, 1g.10gb]}]}
    - {name: m, gpus: [{model: A100-80GB, memory: 80GiB, mig: [3g.40gb, big]}]}
    - {name: o, gpus: [{model: A100-40GB, memory: 40GiB, mig: [3g.40gb, 3g.20gb]}]}
)";
  auto e = parse_manifests(bad, "c.yaml", names());
  EXPECT_TRUE(has_diag(e, "spec.nodes[0].gpus[0].mig",
                       "the MIG profiles take 8 compute slices; a GPU has 7", 6));
  EXPECT_TRUE(has_diag(e, "spec.nodes[1].gpus[0].mig[1]",
                       "\"big\" is not a MIG profile: expected <compute slices>g.<memory>gb, "
                       "like 3g.40gb",
                       7));
  EXPECT_TRUE(has_diag(e, "spec.nodes[2].gpus[0].mig",
                       "the MIG profiles take 60 GiB; the GPU has 40 GiB", 8));
}

TEST(Manifest, ParsesDeploymentAndTenantInOneFile) {
  const char* text = R"(apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: llama-70b}
spec:
  model: meta-llama/Llama-2-70b-hf
  engine: {type: vllm, args: [--max-model-len, "8192"], env: {HF_HOME: /data}}
  resources: {gpus: 4, gpuModels: [H100-80GB, A100-80GB], topology: nvlink-preferred}
  replicas: {min: 1, max: 3}
  priority: 100
  reserveReplicas: 1
  rollout: {strategy: canary, maxSurge: 1, maxUnavailable: 0, steps: [{weight: 10, pause: 5m}, {weight: 50}]}
  routing: {policy: prefix-affinity}
---
apiVersion: gpufleet/v1
kind: Tenant
metadata: {name: team-a}
spec:
  weight: 3
  apiKeys: ["sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"]
  rateLimit: {requestsPerSecond: 20, tokensPerMinute: 100k}
  maxConcurrency: 64
  gpuQuota: "8"
)";
  auto r = parse_manifests(text, "d.yaml", names());
  ASSERT_TRUE(r.ok()) << r.diagnostics[0].format();
  ASSERT_EQ(r.manifests.deployments.size(), 1u);
  const auto& d = r.manifests.deployments[0];
  EXPECT_EQ(d.engine.type, EngineType::kVllm);
  EXPECT_EQ(d.engine.args, (std::vector<std::string>{"--max-model-len", "8192"}));
  EXPECT_EQ(d.resources.gpus, 4);
  EXPECT_EQ(d.resources.topology, TopologyPolicy::kNvlinkPreferred);
  EXPECT_EQ(d.replicas.min, 1);
  EXPECT_EQ(d.replicas.max, 3);
  ASSERT_EQ(d.rollout.steps.size(), 2u);
  EXPECT_EQ(d.rollout.steps[0].pause, std::chrono::minutes(5));
  EXPECT_EQ(d.routing, "prefix-affinity");
  ASSERT_EQ(r.manifests.tenants.size(), 1u);
  const auto& t = r.manifests.tenants[0];
  EXPECT_EQ(t.weight, 3);
  EXPECT_EQ(t.tokens_per_minute->value, 100000);
  EXPECT_EQ(t.gpu_quota->value, 8000);
}

TEST(Manifest, ReportsEveryErrorWithLineColumnAndPath) {
  const char* text = R"(apiVersion: gpufleet/v1
kind: Cluster
metadata: {name: lab}
spec:
  nodes:
    - name: node-1
      gpus:
        - model: A100-80GB
          count: "4"
          memory: 80GiBs
          colour: green
    - name: node-1
      gpus: [{model: H100, memory: 80GiB, count: 99}]
      nvlink: [[0, 5]]
)";
  auto r = parse_manifests(text, "bad.yaml", names());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(
      has_diag(r, "spec.nodes[0].gpus[0].count", "expected an integer, got a quoted string", 9));
  EXPECT_TRUE(has_diag(r, "spec.nodes[0].gpus[0].memory", "unknown unit", 10));
  EXPECT_TRUE(has_diag(r, "spec.nodes[0].gpus[0].colour", "unknown field \"colour\"", 11));
  EXPECT_TRUE(has_diag(r, "spec.nodes[1].name", "duplicate node name \"node-1\"", 12));
  EXPECT_TRUE(has_diag(r, "spec.nodes[1].gpus[0].count", "out of range [1, 64]", 13));
  EXPECT_GE(r.diagnostics.size(), 5u);
  // Columns are 1-based and point at the value.
  auto it = std::find_if(r.diagnostics.begin(), r.diagnostics.end(), [](const Diagnostic& d) {
    return d.path == "spec.nodes[0].gpus[0].memory";
  });
  ASSERT_NE(it, r.diagnostics.end());
  EXPECT_EQ(it->column, 19);
  EXPECT_EQ(it->format().rfind("bad.yaml:10:19: spec.nodes[0].gpus[0].memory: ", 0), 0u)
      << it->format();
}

TEST(Manifest, RejectsWrongHeaderFields) {
  auto r =
      parse_manifests("apiVersion: v2\nkind: Pod\nmetadata: {name: Bad_Name}\nspec: {}\nextra: 1\n",
                      "h.yaml", names());
  EXPECT_TRUE(has_diag(r, "apiVersion", "unsupported apiVersion \"v2\"", 1));
  EXPECT_TRUE(has_diag(r, "kind", "expected one of: Cluster, Deployment, Tenant", 2));
  EXPECT_TRUE(has_diag(r, "metadata.name", "invalid name \"Bad_Name\"", 3));
  EXPECT_TRUE(has_diag(r, "extra", "unknown field", 5));
}

TEST(Manifest, ReportsMissingRequiredFieldsAndDuplicates) {
  const char* text = R"(apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: a}
spec:
  resources: {gpus: 2, memoryPerGpu: 10GiB}
  replicas: {min: 3, max: 2}
  rollout: {maxSurge: 0, maxUnavailable: 0}
---
apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: a}
spec: {model: m, model: n}
---
apiVersion: gpufleet/v1
kind: Tenant
metadata: {name: t}
spec: {apiKeys: [plaintext-key]}
)";
  auto r = parse_manifests(text, "x.yaml", names());
  EXPECT_TRUE(has_diag(r, "spec.model", "missing required field \"model\""));
  EXPECT_TRUE(has_diag(r, "spec.resources.memoryPerGpu", "fractional GPU shares need gpus: 1"));
  EXPECT_TRUE(has_diag(r, "spec.replicas", "max (2) is less than min (3)"));
  EXPECT_TRUE(has_diag(r, "spec.rollout", "cannot both be 0"));
  EXPECT_TRUE(has_diag(r, "metadata.name",
                       "duplicate Deployment name \"a\" (first defined at line 3)", 11));
  EXPECT_TRUE(has_diag(r, "spec.model", "duplicate field \"model\"", 12));
  EXPECT_TRUE(has_diag(r, "spec.apiKeys[0]", "stored hashed", 17));
}

TEST(Manifest, UnknownPluginAndPolicyNamesListTheKnownOnes) {
  const char* text = R"(apiVersion: gpufleet/v1
kind: Cluster
metadata: {name: lab}
spec:
  nodes: [{name: n, gpus: [{model: L4, memory: 24GiB}]}]
  placement:
    filters: [health, model, memory, gravity]
    scores: {binpack: 2, luck: 1}
---
apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: a}
spec:
  model: m
  routing: {policy: fastest}
)";
  auto r = parse_manifests(text, "n.yaml", names());
  EXPECT_TRUE(has_diag(r, "spec.placement.filters",
                       "filter \"topology\" enforces a hard rule and must be listed", 7));
  EXPECT_TRUE(has_diag(r, "spec.placement.filters[3]",
                       "unknown placement filter \"gravity\"; known: health, model, memory, "
                       "topology, tenant-quota",
                       7));
  EXPECT_TRUE(has_diag(r, "spec.placement.scores.luck",
                       "unknown placement score \"luck\"; known: binpack, spread, "
                       "replica-spread, cost-efficiency, warm-affinity, model-preference, topology",
                       8));
  EXPECT_TRUE(has_diag(r, "spec.routing.policy",
                       "unknown routing policy \"fastest\"; known: round-robin, "
                       "least-outstanding, least-work, power-of-two, prefix-affinity, "
                       "session-affinity, kv-aware",
                       15));
  EXPECT_EQ(r.diagnostics.size(), 4u);
  auto routing = std::find_if(r.diagnostics.begin(), r.diagnostics.end(),
                              [](const Diagnostic& d) { return d.path == "spec.routing.policy"; });
  ASSERT_NE(routing, r.diagnostics.end());
  EXPECT_EQ(routing->format().rfind("n.yaml:15:21: spec.routing.policy: unknown routing policy", 0),
            0u)
      << routing->format();
}

TEST(Manifest, ChecksOnlyTheNamesItIsGiven) {
  // The names come from the registries' owners (extension_names.h); a part left out is not
  // checked, and a part given is checked against exactly what was given.
  const char* text = R"(apiVersion: gpufleet/v1
kind: Cluster
metadata: {name: lab}
spec:
  nodes: [{name: n, gpus: [{model: L4, memory: 24GiB}]}]
  placement:
    filters: [health, custom]
    scores: {gravity: 3}
---
apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: a}
spec:
  model: m
  routing: {policy: fastest}
)";
  auto unchecked = parse_manifests(text, "u.yaml", ExtensionNames{});
  EXPECT_TRUE(unchecked.ok());
  ASSERT_EQ(unchecked.manifests.clusters.size(), 1u);
  EXPECT_EQ(unchecked.manifests.clusters[0].placement.score_weights.at("gravity"), 3);
  EXPECT_EQ(unchecked.manifests.deployments[0].routing, "fastest");

  ExtensionNames custom{PlacementNames{{"health", "custom"}, {"health"}, {"gravity"}},
                        std::vector<std::string>{"fastest"}};
  EXPECT_TRUE(parse_manifests(text, "c.yaml", custom).ok());
}

TEST(Manifest, DeploymentsCanGiveTheirOwnLatencyModel) {
  const char* text = R"(apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: custom}
spec:
  model: my-org/my-model
  performance: {prefillBaseMs: 20, prefillPerTokenMs: 0.05, decodeBaseMs: 12, decodePerSeqMs: 0.2}
---
apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: free}
spec:
  model: m
  performance: {prefillPerTokenMs: 0.05, speed: fast}
)";
  auto r = parse_manifests(text, "p.yaml", names());
  ASSERT_EQ(r.manifests.deployments.size(), 2u);
  ASSERT_TRUE(r.manifests.deployments[0].performance);
  EXPECT_DOUBLE_EQ(r.manifests.deployments[0].performance->decode_base_ms, 12);
  EXPECT_TRUE(has_diag(r, "spec.performance", "a decode iteration must cost something", 13));
  EXPECT_TRUE(has_diag(r, "spec.performance.speed", "unknown field", 13));
}

TEST(Manifest, AnEnginesIterationBudgetIsAutoOrANumberOfTokens) {
  const char* text = R"(apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: a}
spec:
  model: m
  engine: {type: vllm, maxBatchedTokens: auto}
---
apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: b}
spec:
  model: m
  engine: {maxBatchedTokens: 1024}
---
apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: c}
spec:
  model: m
  engine: {maxBatchedTokens: automatic}
---
apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: d}
spec:
  model: m
  engine: {maxBatchedTokens: 0}
---
apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: e}
spec:
  model: m
  engine: {maxBatchedTokens: [512]}
---
apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: f}
spec:
  model: m
  engine: {maxBatchedTokens: {prompt: 1155, output: 211}}
---
apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: g}
spec:
  model: m
  engine: {maxBatchedTokens: {prompt: 0, outputs: 5}}
)";
  auto r = parse_manifests(text, "b.yaml", names());
  ASSERT_GE(r.manifests.deployments.size(), 2u);
  const auto& a = r.manifests.deployments[0].engine.max_batched_tokens;
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->automatic);
  EXPECT_EQ(a->prompt.value, 512);  // the reference request until told otherwise
  EXPECT_FALSE(a->tpot.has_value());
  const auto& b = r.manifests.deployments[1].engine.max_batched_tokens;
  ASSERT_TRUE(b.has_value());
  EXPECT_FALSE(b->automatic);
  EXPECT_EQ(b->tokens.value, 1024);
  EXPECT_TRUE(has_diag(r, "spec.engine.maxBatchedTokens",
                       "expected \"auto\", a number of tokens or {prompt: N, output: N}, got "
                       "\"automatic\"",
                       20));
  EXPECT_TRUE(has_diag(r, "spec.engine.maxBatchedTokens", "0 is out of range [1, 16777216]", 27));
  EXPECT_TRUE(has_diag(r, "spec.engine.maxBatchedTokens",
                       "expected \"auto\", a number of tokens or {prompt: N, output: N}, got a "
                       "list",
                       34));
  // `auto` for a request of the given size (what gpufleet sim's default deployment assumes).
  const DeploymentSpec* f = nullptr;
  for (const auto& d : r.manifests.deployments)
    if (d.name == "f") f = &d;
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->engine.max_batched_tokens.has_value());
  EXPECT_TRUE(f->engine.max_batched_tokens->automatic);
  EXPECT_EQ(f->engine.max_batched_tokens->prompt, Tokens(1155));
  EXPECT_EQ(f->engine.max_batched_tokens->output, Tokens(211));
  EXPECT_TRUE(has_diag(r, "spec.engine.maxBatchedTokens.prompt", "0 is out of range", 48));
  EXPECT_TRUE(has_diag(r, "spec.engine.maxBatchedTokens.outputs", "unknown field", 48));
}

TEST(Manifest, ReadsAutoscalingWithDefaultsAndPositionedErrors) {
  const char* text = R"(apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: chat}
spec:
  model: m
  replicas: {min: 0, max: 8}
  autoscaling:
    policy: slo
    metric: rps
    replicaCapacity: 4
    scaleToZeroAfter: 10m
    sizeWindow: 2m
    slo: {ttft: 500ms, tpot: 50ms}
---
apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: plain}
spec:
  model: m
  autoscaling: {}
---
apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: bad}
spec:
  model: m
  autoscaling:
    policy: magic
    metric: gpu
    scaleUpThreshold: 0.2
    scaleDownThreshold: 0.5
    period: 2h
    stabilisation: 5m
---
apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: slo-without-target}
spec:
  model: m
  autoscaling: {policy: slo, window: 500ms, sizeWindow: 200ms}
)";
  auto r = parse_manifests(text, "a.yaml", names());
  ASSERT_EQ(r.manifests.deployments.size(), 4u);
  const auto& a = r.manifests.deployments[0].autoscaling;
  ASSERT_TRUE(a);
  EXPECT_EQ(a->policy, "slo");
  EXPECT_EQ(a->metric, ScalingMetric::kRps);
  EXPECT_DOUBLE_EQ(a->replica_capacity, 4);
  EXPECT_EQ(a->scale_to_zero_after, std::chrono::minutes(10));
  EXPECT_EQ(a->size_window, std::chrono::minutes(2));
  EXPECT_EQ(a->slo_ttft, std::chrono::milliseconds(500));
  EXPECT_EQ(a->slo_tpot, std::chrono::milliseconds(50));
  // An empty map means every default: the target policy.
  ASSERT_TRUE(r.manifests.deployments[1].autoscaling);
  EXPECT_EQ(r.manifests.deployments[1].autoscaling->policy, "target");
  EXPECT_EQ(r.manifests.deployments[1].autoscaling->size_window, std::chrono::seconds(60));
  EXPECT_FALSE(r.manifests.deployments[1].autoscaling->slo_ttft);
  EXPECT_FALSE(r.manifests.deployments[2].autoscaling->slo_ttft);
  EXPECT_TRUE(has_diag(r, "spec.autoscaling.policy", "unknown scaling policy \"magic\"", 28));
  EXPECT_TRUE(has_diag(r, "spec.autoscaling.policy", "target", 28));
  EXPECT_TRUE(has_diag(r, "spec.autoscaling.metric", "gpu", 29));
  EXPECT_TRUE(has_diag(r, "spec.autoscaling", "scaleDownThreshold (0.5) must be below"));
  EXPECT_TRUE(has_diag(r, "spec.autoscaling.period", "must be between", 32));
  EXPECT_TRUE(has_diag(r, "spec.autoscaling.stabilisation", "unknown field", 33));
  EXPECT_TRUE(has_diag(r, "spec.autoscaling", "policy slo needs a target"));
  EXPECT_TRUE(has_diag(r, "spec.autoscaling", "window (500ms) is shorter than one period"));
  EXPECT_TRUE(has_diag(r, "spec.autoscaling", "sizeWindow (200ms) is shorter than one period"));
}

TEST(Manifest, TheWorkMetricIsOneOfTheMetrics) {
  const char* text = R"(apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: chat}
spec:
  model: m
  autoscaling: {metric: work, replicaCapacity: 0.8}
)";
  auto r = parse_manifests(text, "a.yaml", names());
  ASSERT_EQ(r.manifests.deployments.size(), 1u);
  ASSERT_TRUE(r.manifests.deployments[0].autoscaling);
  EXPECT_EQ(r.manifests.deployments[0].autoscaling->metric, ScalingMetric::kWork);
  EXPECT_DOUBLE_EQ(r.manifests.deployments[0].autoscaling->replica_capacity, 0.8);
  EXPECT_STREQ(to_string(ScalingMetric::kWork), "work");
  // Without replicaCapacity, work's capacity is one whole replica, not concurrency's 8.
  auto whole = parse_manifests(
      "apiVersion: gpufleet/v1\nkind: Deployment\nmetadata: {name: y}\nspec:\n  model: m\n"
      "  autoscaling: {metric: work}\n",
      "c.yaml", names());
  ASSERT_EQ(whole.manifests.deployments.size(), 1u);
  EXPECT_DOUBLE_EQ(whole.manifests.deployments[0].autoscaling->replica_capacity, 1);
  // An unknown metric's error names every known one, work included.
  auto bad = parse_manifests(
      "apiVersion: gpufleet/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  model: m\n"
      "  autoscaling: {metric: tokens}\n",
      "b.yaml", names());
  EXPECT_TRUE(has_diag(bad, "spec.autoscaling.metric", "work", 6));
}

TEST(Manifest, SyntaxErrorsHaveAPosition) {
  auto r = parse_manifests("kind: [unclosed\n", "s.yaml", names());
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_NE(r.diagnostics[0].message.find("YAML syntax error"), std::string::npos);
  EXPECT_GT(r.diagnostics[0].line, 0);
}

TEST(Manifest, RefusesPathologicalNestingInsteadOfOverflowingTheStack) {
  std::string deep = "spec: " + std::string(100000, '[');
  auto r = parse_manifests(deep, "deep.yaml", names());
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_NE(r.diagnostics[0].message.find("nesting deeper than 64"), std::string::npos);
  EXPECT_EQ(r.diagnostics[0].line, 1);
}

// A cluster whose 1,000 nodes all alias one list of 1,000 GPU groups: a million items to walk
// (and, if the group is bad, a million errors) from a 40KB file.
std::string alias_bomb(const std::string& group) {
  std::string text =
      "apiVersion: gpufleet/v1\nkind: Cluster\nmetadata: {name: b}\nspec:\n  nodes:\n";
  std::string groups = "&g [";
  for (int i = 0; i < 1000; ++i)
    groups += (i ? ", " : "") + group;
  groups += "]";
  for (int i = 0; i < 1000; ++i) {
    text += "    - {name: n" + std::to_string(i) + ", gpus: " + (i ? std::string("*g") : groups) +
            "}\n";
  }
  return text;
}

TEST(Manifest, BoundsAliasExpansionAndTheNumberOfDiagnostics) {
  auto r = parse_manifests(alias_bomb("{model: m}"), "bomb.yaml", names());
  ASSERT_FALSE(r.ok());
  EXPECT_LE(r.diagnostics.size(), 201u);
  EXPECT_GE(r.diagnostics.size(), 200u);

  // Valid but enormous: the item budget (lowered to keep the test fast) stops the walk.
  std::string good = alias_bomb("{model: m, memory: 1GiB}");
  auto big = parse_manifests(good, "big.yaml", names(), ParseLimits{5000, 200});
  ASSERT_FALSE(big.ok());
  bool budget = false;
  for (const auto& d : big.diagnostics)
    budget = budget || d.message.find("list items in one file") != std::string::npos;
  EXPECT_TRUE(budget);
}

TEST(Manifest, InputThatMakesYamlCppLoopForeverIsRefused) {
  // Found by the fuzzer: yaml-cpp 0.7's LoadAll never returns on this file and takes gigabytes.
  auto r = load_manifest_file(
      std::string(GPUFLEET_SOURCE_DIR) + "/tests/fuzz/regressions/yaml-cpp-runaway.yaml", names());
  ASSERT_FALSE(r.ok());
  bool runaway = false;
  for (const auto& d : r.diagnostics) {
    runaway = runaway || d.message.find("does not terminate") != std::string::npos;
  }
  EXPECT_TRUE(runaway) << r.diagnostics[0].format();
}

TEST(Manifest, EmptyInputAndMissingFileAreErrors) {
  EXPECT_FALSE(parse_manifests("", "e.yaml", names()).ok());
  EXPECT_FALSE(parse_manifests("---\n---\n", "e.yaml", names()).ok());
  auto r = load_manifest_file("/nonexistent/file.yaml", names());
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_NE(r.diagnostics[0].format().find("cannot read file"), std::string::npos);
}

TEST(Manifest, ExampleFilesAreValid) {
  for (const char* f : {"/examples/cluster.yaml", "/examples/cluster-large.yaml"}) {
    auto r = load_manifest_file(std::string(GPUFLEET_SOURCE_DIR) + f, names());
    EXPECT_TRUE(r.ok()) << f << ": " << (r.ok() ? "" : r.diagnostics[0].format());
    EXPECT_EQ(r.manifests.clusters.size(), 1u) << f;
  }
}

}  // namespace
}  // namespace gf
