// `gpufleet sim`: replays a request trace through the live system's decision core in virtual time
// and compares scaling policies on SLO attainment and GPU-hours against the lower bound.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "autoscale/policy_registry.h"
#include "cli/commands.h"
#include "cli/duration_flag.h"
#include "common/io/manifest.h"
#include "placement/placement_names.h"
#include "routing/policy_registry.h"
#include "sim/capacity_plan.h"
#include "sim/scenario.h"
#include "sim/sim_html.h"
#include "sim/sim_report.h"
#include "sim/sim_setup.h"
#include "sim/simulation.h"
#include "sim/synthetic.h"
#include "sim/synthetic_spec.h"
#include "sim/trace_loader.h"
#include "sim/trace_options.h"

namespace gf {
namespace {

struct SimArgs {
  std::string cluster;
  std::string deployments;
  std::string trace;
  std::string scenario;
  std::string synthetic;
  std::string format = "auto";
  bool lenient = false;
  std::string start = "0s";
  std::string length;
  double rate_scale = 1.0;
  std::string models;
  std::string tenants;
  std::string model = "meta-llama/Llama-2-70b-hf";
  int tp = 4;
  std::string policy;
  std::string compare;
  std::string warmup = "10m";
  std::string max_tokens = "exact";
  std::string chunked_prefill = "on";
  std::string max_batched_tokens;
  std::string slo_ttft;  // empty: the deployments' own target, else 2s
  std::string slo_tpot;  // empty: the deployments' own target, else 100ms
  double attainment = 0.99;
  bool json = false;
  bool explain = false;
  bool plan = false;
  std::string report;
  uint64_t seed = 1;
};

int fail(const std::string& message) {
  std::cerr << "error: " << message << '\n';
  return 2;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

// A progress bar on stderr once a run has taken more than two seconds.
struct Progress {
  std::string label;
  std::chrono::steady_clock::time_point began = std::chrono::steady_clock::now();
  bool shown = false;
  void operator()(double share) {
    if (std::chrono::steady_clock::now() - began < std::chrono::seconds(2)) return;
    const int filled = static_cast<int>(share * 30);
    std::cerr << fmt::format("\r{:<12} [{:<30}] {:3.0f}%", label, std::string(filled, '#'),
                             share * 100)
              << std::flush;
    shown = true;
  }
  void done() {
    if (shown) std::cerr << '\r' << std::string(60, ' ') << '\r' << std::flush;
  }
};

int run_sim(const SimArgs& a) {
  const ExtensionNames names{placement_names(), policy_names(), scaling_policy_names()};
  // The cluster, and the deployments and tenants (from --deployments, else the cluster file).
  ParsedManifests cluster = load_manifest_file(a.cluster, names);
  for (const auto& d : cluster.diagnostics)
    std::cerr << d.format() << '\n';
  if (!cluster.ok()) return 2;
  if (cluster.manifests.clusters.size() != 1)
    return fail(fmt::format("{}: needs exactly one Cluster document, found {}", a.cluster,
                            cluster.manifests.clusters.size()));
  SimInput input;
  input.cluster = cluster.manifests.clusters.front();
  // MIG devices are placeable in the live system (docs/gpu-catalog.md) but not modeled here:
  // simulating them as whole GPUs would overstate the cluster, so say so instead.
  for (size_t n = 0; n < input.cluster.nodes.size(); ++n)
    for (size_t g = 0; g < input.cluster.nodes[n].gpus.size(); ++g)
      if (!input.cluster.nodes[n].gpus[g].mig.empty())
        return fail(
            fmt::format("{}: spec.nodes[{}].gpus[{}].mig: gpufleet sim does not model MIG "
                        "devices yet; simulate without the mig field, or with the "
                        "devices as GPU groups of their own",
                        a.cluster, n, g));
  input.tenants = cluster.manifests.tenants;
  std::vector<DeploymentSpec> deployments;
  if (!a.deployments.empty()) {
    ParsedManifests d = load_manifest_file(a.deployments, names);
    for (const auto& diag : d.diagnostics)
      std::cerr << diag.format() << '\n';
    if (!d.ok()) return 2;
    if (d.manifests.deployments.empty())
      return fail(fmt::format("{}: no Deployment document", a.deployments));
    deployments = d.manifests.deployments;
    input.tenants.insert(input.tenants.end(), d.manifests.tenants.begin(),
                         d.manifests.tenants.end());
  }

  SimOptions options;
  // An SLO target: the flag, else the one every deployment sets (spec.autoscaling.slo), else the
  // simulator's default.
  const auto target = [&](const char* flag, const std::string& text, auto field,
                          Duration fallback) -> Result<Duration> {
    if (!text.empty()) return duration_flag(flag, text, std::chrono::milliseconds(1));
    std::optional<Duration> own;
    for (const DeploymentSpec& d : deployments) {
      const std::optional<Duration> t =
          d.autoscaling ? (*d.autoscaling).*field : std::optional<Duration>{};
      if (!t || (own && *own != *t)) return fallback;  // unset, or deployments disagree
      own = t;
    }
    return own.value_or(fallback);
  };
  auto ttft = target("--slo-ttft", a.slo_ttft, &AutoscalingSpec::slo_ttft, std::chrono::seconds(2));
  if (!ttft) return fail(ttft.error().message);
  auto tpot =
      target("--slo-tpot", a.slo_tpot, &AutoscalingSpec::slo_tpot, std::chrono::milliseconds(100));
  if (!tpot) return fail(tpot.error().message);
  options.slo = SloTarget{*ttft, *tpot};
  if (!(a.attainment > 0 && a.attainment <= 1))
    return fail(fmt::format("--attainment: {} is not in (0, 1]", a.attainment));
  options.attainment_goal = a.attainment;
  auto warmup = duration_flag("--warmup", a.warmup, Duration::zero());
  if (!warmup) return fail(warmup.error().message);
  options.warmup = *warmup;
  if (a.max_tokens != "exact" && a.max_tokens != "none")
    return fail(fmt::format("--max-tokens: \"{}\" is neither exact nor none", a.max_tokens));
  options.exact_max_tokens = a.max_tokens == "exact";
  if (a.chunked_prefill != "on" && a.chunked_prefill != "off")
    return fail(fmt::format("--chunked-prefill: \"{}\" is neither on nor off", a.chunked_prefill));
  options.chunked_prefill = a.chunked_prefill == "on";

  // The trace, windowed, scaled and named.
  // The trace: a file, or a synthetic one described on the command line.
  if (a.trace.empty() == a.synthetic.empty())
    return fail("give exactly one of --trace FILE and --synthetic KIND:key=value,...");
  Trace source;
  if (!a.synthetic.empty()) {
    auto spec = parse_synthetic_spec(a.synthetic, a.seed);
    if (!spec) return fail(spec.error().message);
    auto generated = generate_trace(*spec);
    if (!generated) return fail("--synthetic: " + generated.error().message);
    source = std::move(*generated);
  } else {
    auto format = parse_trace_format(a.format);
    if (!format) return fail("--format: " + format.error().message);
    TraceLoadOptions load;
    load.format = *format;
    load.parse.lenient = a.lenient;
    auto loaded = load_trace(a.trace, load);
    if (!loaded) return fail(loaded.error().message);
    if (loaded->skipped_lines > 0)
      std::cerr << fmt::format("warning: {}: skipped {} malformed lines (--lenient)\n", a.trace,
                               loaded->skipped_lines);
    source = std::move(loaded->trace);
  }
  TraceOptions topts;
  auto start = duration_flag("--start", a.start, Duration::zero());
  if (!start) return fail(start.error().message);
  topts.start = *start;
  if (!a.length.empty()) {
    auto length = duration_flag("--length", a.length, std::chrono::milliseconds(1));
    if (!length) return fail(length.error().message);
    topts.length = *length;
  }
  topts.rate_scale = a.rate_scale;
  topts.seed = a.seed;
  if (!a.models.empty()) {
    auto m = parse_weighted_names(a.models);
    if (!m) return fail("--models: " + m.error().message);
    topts.models = *m;
  }
  if (!a.tenants.empty()) {
    auto t = parse_weighted_names(a.tenants);
    if (!t) return fail("--tenants: " + t.error().message);
    topts.tenants = *t;
  }
  auto trace = apply_trace_options(std::move(source), topts);
  if (!trace) return fail(trace.error().message);
  if (!a.scenario.empty()) {
    auto sc = load_scenario(a.scenario);
    if (!sc) return fail(sc.error().message);
    input.scenario = std::move(*sc);
  }

  if (deployments.empty()) {
    auto d = default_deployment(input.cluster, *trace, a.model, a.tp, options.slo);
    if (!d) return fail(d.error().message);
    deployments.push_back(*d);
  }
  if (auto s = set_iteration_budget(deployments, *trace, options.slo, a.max_batched_tokens,
                                    options.chunked_prefill);
      !s.ok())
    return fail(s.error().message);
  if (auto s = name_models(*trace, deployments); !s.ok()) return fail(s.error().message);
  input.trace = &*trace;

  // The policies: --compare's list, else --policy, else each deployment's own.
  std::vector<std::string> policies = split_list(a.compare);
  if (policies.empty() && !a.policy.empty()) policies.push_back(a.policy);
  SimReport report;
  report.trace = &*trace;
  report.options = options;
  report.seed = a.seed;
  input.deployments = deployments;
  if (a.plan) {
    const std::string policy = !a.policy.empty() ? a.policy
                               : deployments.front().autoscaling
                                   ? deployments.front().autoscaling->policy
                                   : std::string("fixed");
    auto plan = plan_capacity(input, options, policy);
    if (!plan) return fail("--plan: " + plan.error().message);
    std::cout << (a.json ? plan_json(report, *plan) : plan_table(report, *plan));
    return 0;
  }
  report.bound = workload_bound(input, options);
  report.iteration_budgets = iteration_budgets(input);
  const auto run_one = [&](const std::string& label) -> int {
    Progress progress{label};
    options.progress = std::ref(progress);
    auto result = simulate(input, options);
    progress.done();
    options.progress = nullptr;
    if (!result) return fail(result.error().message);
    result->policy = label;
    report.runs.push_back(std::move(*result));
    return 0;
  };
  if (policies.empty()) {
    std::string own = deployments.front().autoscaling ? deployments.front().autoscaling->policy
                                                      : std::string("fixed");
    if (int rc = run_one(own)) return rc;
  }
  for (const std::string& p : policies) {
    auto d = with_policy(deployments, p);
    if (!d) return fail("--compare: " + d.error().message);
    input.deployments = *d;
    if (int rc = run_one(p)) return rc;
  }
  std::cout << (a.json ? report_json(report) : report_table(report));
  if (!a.report.empty()) {
    std::ofstream html(a.report);
    html << report_html(report);
    if (!html.flush()) return fail(fmt::format("--report: cannot write {}", a.report));
  }
  if (a.explain && !a.json) {
    for (const SimResult& run : report.runs) {
      std::cout << fmt::format("\n{}: {} scaling actions\n", run.policy, run.actions.size());
      for (const ScalingAction& s : run.actions) {
        // What the engines said over the decision's period, when they said anything.
        std::vector<std::string> engines;
        if (s.engine_ttft_p95_ms)
          engines.push_back(fmt::format("TTFT p95 {:.0f} ms", *s.engine_ttft_p95_ms));
        if (s.engine_queue_p95_ms)
          engines.push_back(fmt::format("queue time p95 {:.0f} ms", *s.engine_queue_p95_ms));
        std::cout << fmt::format(
            "  {:>8.1f}s {} {} -> {} ({}): {}{}\n", s.t, s.deployment, s.from, s.to, s.rule,
            s.reason,
            engines.empty() ? std::string() : fmt::format("; engine {}", fmt::join(engines, ", ")));
      }
    }
  }
  return 0;
}

}  // namespace

void add_sim_command(CLI::App& app, int& status) {
  auto a = std::make_shared<SimArgs>();
  auto* c = app.add_subcommand(
      "sim",
      "Replay a request trace through gpufleet's decision core in virtual time and compare "
      "scaling policies against the lower bound (docs/simulator.md)");
  c->add_option("--cluster", a->cluster, "Cluster manifest: the nodes, GPUs and prices")
      ->required()
      ->check(CLI::ExistingFile);
  c->add_option("--deployments", a->deployments,
                "Deployment (and Tenant) manifests; default: one deployment of --model")
      ->check(CLI::ExistingFile);
  c->add_option("--trace", a->trace, "Trace file: Azure CSV, Mooncake JSONL or BurstGPT CSV")
      ->check(CLI::ExistingFile);
  c->add_option("--synthetic", a->synthetic,
                "Instead of --trace, a generated one: poisson:rps=5, diurnal:mean=5,amplitude=0.6,"
                "period=1h, burst:on=20,off=1,on_for=30s,off_for=90s, step:before=1,after=8,at=5m "
                "(plus length=, prompt=, output=, sigma=; docs/simulator.md)");
  c->add_option("--scenario", a->scenario,
                "Faults to inject at given times: node-loss, node-return, gpu-fault, engine-crash "
                "(docs/simulator.md)")
      ->check(CLI::ExistingFile);
  c->add_option("--format", a->format, "Trace format: auto, azure, mooncake, burstgpt")
      ->capture_default_str();
  c->add_flag("--lenient", a->lenient, "Skip and count malformed trace lines");
  c->add_option("--start", a->start, "Window start on the trace's time")->capture_default_str();
  c->add_option("--length", a->length, "Window length (default: to the trace's end)");
  c->add_option("--rate-scale", a->rate_scale, "Replay at k times the trace's rate")
      ->capture_default_str();
  c->add_option("--models", a->models,
                "Map requests to models: name=weight,... (weights optional)");
  c->add_option("--tenants", a->tenants,
                "Map requests to tenants: name=weight,... (weights optional)");
  c->add_option("--model", a->model, "The default deployment's model")->capture_default_str();
  c->add_option("--tp", a->tp, "The default deployment's GPUs per replica")->capture_default_str();
  c->add_option("--policy", a->policy, "Run every deployment under this scaling policy (or fixed)");
  c->add_option("--compare", a->compare,
                "Policies to run side by side: P1,P2,... (P/work: P on the work metric, "
                "docs/autoscaling.md)");
  c->add_option("--slo-ttft", a->slo_ttft,
                "Time-to-first-token target (default: the deployments' own slo.ttft when they all "
                "set the same, else 2s)");
  c->add_option("--slo-tpot", a->slo_tpot,
                "Time-per-output-token target (default: the deployments' own slo.tpot when they "
                "all set the same, else 100ms)");
  c->add_option("--attainment", a->attainment,
                "Share of requests that must meet the SLO (the lower bound's goal)")
      ->capture_default_str();
  c->add_option("--warmup", a->warmup,
                "Replay the trace's opening this long once before it, unmeasured (0s: start cold "
                "at replicas.min)")
      ->capture_default_str();
  c->add_option("--max-tokens", a->max_tokens,
                "What each request asks for as max_tokens: exact (its true output length) or "
                "none (the gateway then estimates 256 tokens)")
      ->capture_default_str();
  c->add_option("--chunked-prefill", a->chunked_prefill,
                "on: engines cut prompts into chunks that share iterations with decodes (vLLM "
                "V1); off: whole prefills in iterations of their own (vLLM V0)")
      ->capture_default_str();
  c->add_option("--max-batched-tokens", a->max_batched_tokens,
                "Tokens one engine iteration may carry, for every deployment: auto (the "
                "largest whose iteration meets the TPOT target, for the trace's mean request), "
                "default (vLLM's: 8192 on an H100, 2048 on an A100) or a number (default: each "
                "deployment's engine.maxBatchedTokens; auto for the default deployment)");
  c->add_flag("--plan", a->plan,
              "Find the cheapest GPU mix of the cluster's GPU models and prices that meets the "
              "SLO with --policy (or the deployments' own), by search over simulations");
  c->add_option("--report", a->report,
                "Also write one self-contained HTML file with charts (opens offline)");
  c->add_flag("--json", a->json, "Print the JSON document (docs/simulator.md, \"Output\")");
  c->add_flag("--explain", a->explain,
              "After the table, every scaling action of each run with its rule and numbers");
  c->add_option("--seed", a->seed, "Seed of every random draw (the model and tenant mapping)")
      ->capture_default_str();
  c->callback([a, &status] { status = run_sim(*a); });
}

}  // namespace gf
