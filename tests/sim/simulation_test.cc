// The simulator end to end on small synthetic traces: every request accounted for, determinism,
// the autoscaler following a step, the lower bound below every policy, and errors for inputs a
// run cannot serve.
#include "sim/simulation.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <fmt/format.h>

#include "common/traffic_report.h"
#include "perfmodel/iteration_budget.h"
#include "sim/sim_html.h"
#include "sim/sim_report.h"
#include "sim/sim_setup.h"
#include "sim/synthetic.h"

namespace gf {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

constexpr const char* kModel = "meta-llama/Llama-2-7b-hf";

ClusterSpec cluster(int nodes, int gpus_per_node) {
  ClusterSpec c;
  c.name = "sim";
  for (int n = 0; n < nodes; ++n) {
    NodeSpec node;
    node.name = "node-" + std::to_string(n);
    node.gpus.push_back(GpuGroupSpec{"A100-80GB", gpus_per_node, MiB{81920}, 2.0, {}});
    node.nvlink_groups.emplace_back();
    for (int i = 0; i < gpus_per_node; ++i)
      node.nvlink_groups.back().push_back(i);
    c.nodes.push_back(node);
  }
  c.placement.gpu_prices["A100-80GB"] = 2.0;
  return c;
}

DeploymentSpec deployment(int min, int max, std::optional<std::string> policy) {
  DeploymentSpec d;
  d.name = "llama";
  d.model = kModel;
  d.resources.gpu_models = {"A100-80GB"};
  d.replicas = {min, max};
  if (policy) {
    AutoscalingSpec a;
    a.policy = *policy;
    a.metric = ScalingMetric::kRps;
    a.replica_capacity = 4;
    d.autoscaling = a;
  }
  return d;
}

Trace synthetic(ArrivalPattern arrivals, Duration length, uint64_t seed) {
  SyntheticSpec spec;
  spec.arrivals = arrivals;
  spec.sizes = LognormalSizes{Tokens(512), 0.8, Tokens(128), 0.8, Tokens(8192), Tokens(1024)};
  spec.length = length;
  spec.seed = seed;
  auto t = generate_trace(spec);
  EXPECT_TRUE(t) << t.error().message;
  Trace trace = t ? *t : Trace{};
  for (auto& r : trace.requests)
    r.model = kModel;
  return trace;
}

// A run that starts cold, at each deployment's replicas.min (no warm-up replay).
SimOptions cold() {
  SimOptions o;
  o.warmup = Duration::zero();
  return o;
}

Result<SimResult> run(const Trace& trace, std::vector<DeploymentSpec> deployments,
                      ClusterSpec c = cluster(2, 4), SimOptions options = cold()) {
  SimInput in;
  in.cluster = std::move(c);
  in.deployments = std::move(deployments);
  in.trace = &trace;
  return simulate(in, options);
}

TEST(Simulation, ServesEveryRequestOfALightTraceWithinTheSlo) {
  const Trace trace = synthetic(PoissonArrivals{.rps = 2}, minutes(2), 3);
  auto r = run(trace, {deployment(2, 2, std::nullopt)});
  ASSERT_TRUE(r) << r.error().message;
  const RunFigures& f = r->overall;
  EXPECT_EQ(f.requests, trace.requests.size());
  EXPECT_EQ(f.served, trace.requests.size());
  EXPECT_EQ(f.rejected + f.failed, 0u);
  EXPECT_GT(f.slo_attainment, 0.99);
  // Two one-GPU replicas held from the trace's start to its last request's end.
  EXPECT_NEAR(f.gpu_hours, 2 * r->simulated_seconds / 3600, 2 * 2.0 / 3600);
  EXPECT_NEAR(f.cost, f.gpu_hours * 2.0, 1e-9);
  EXPECT_EQ(f.cold_starts, 0);  // both were Ready before the first arrival
  EXPECT_GT(f.gpu_utilization, 0);
  EXPECT_LT(f.gpu_utilization, 1);
  // A 7B model on an A100 answers a 512-token prompt in tens of milliseconds when idle.
  EXPECT_LT(f.ttft_ms.p50, 500);
  EXPECT_GT(f.ttft_ms.p50, 1);
  EXPECT_LE(f.ttft_ms.p50, f.ttft_ms.p95);
  EXPECT_LE(f.ttft_ms.p95, f.ttft_ms.p99);
}

// Every served request that misses the SLO is counted under the target it missed: a late first
// token first, else slow tokens after it. Served requests split exactly into those and the ones
// that met both, and the attainment is the share that met both.
TEST(Simulation, EachMissSaysWhichTargetItMissed) {
  const Trace trace = synthetic(PoissonArrivals{.rps = 6}, minutes(2), 5);
  const auto with_slo = [&](Duration ttft, Duration tpot) {
    SimOptions o = cold();
    o.slo = SloTarget{ttft, tpot};
    auto r = run(trace, {deployment(1, 1, std::nullopt)}, cluster(1, 1), o);
    EXPECT_TRUE(r) << r.error().message;
    const RunFigures f = r ? r->overall : RunFigures{};
    EXPECT_EQ(f.served, f.met_slo + f.missed_ttft + f.missed_tpot);
    EXPECT_DOUBLE_EQ(f.slo_attainment, static_cast<double>(f.met_slo) / f.requests);
    return f;
  };
  // First tokens take tens of milliseconds on an idle A100, more behind a queue; the tokens after
  // them at least the decode iteration's ~10 ms.
  const RunFigures late = with_slo(std::chrono::milliseconds(40), std::chrono::hours(1));
  EXPECT_GT(late.missed_ttft, 0u);
  EXPECT_EQ(late.missed_tpot, 0u);
  const RunFigures slow = with_slo(std::chrono::hours(1), std::chrono::milliseconds(5));
  EXPECT_EQ(slow.missed_ttft, 0u);
  EXPECT_GT(slow.missed_tpot, 0u);
  const RunFigures both = with_slo(std::chrono::milliseconds(40), std::chrono::milliseconds(5));
  EXPECT_EQ(both.missed_ttft, late.missed_ttft) << "a late first token counts as late first";
  EXPECT_EQ(both.missed_tpot + both.met_slo, late.met_slo);
}

TEST(Simulation, ALateFirstTokenSaysWhetherItWaitedOrPrefilledTooLong) {
  const auto late = [](const Trace& trace, Duration ttft) {
    SimOptions o = cold();
    o.slo = SloTarget{ttft, std::chrono::hours(1)};
    auto r = run(trace, {deployment(1, 1, std::nullopt)}, cluster(1, 1), o);
    EXPECT_TRUE(r) << r.error().message;
    const RunFigures f = r ? r->overall : RunFigures{};
    EXPECT_EQ(f.missed_ttft, f.missed_ttft_waiting + f.missed_ttft_prefill);
    return f;
  };
  // 8,000-token prompts ten seconds apart: nothing waits, and each prefill alone outlasts 100 ms.
  Trace sparse;
  for (int i = 0; i < 10; ++i)
    sparse.requests.push_back(
        TraceRequest{seconds(10 * i), Tokens(8000), Tokens(4), {}, kModel, ""});
  const RunFigures slow = late(sparse, std::chrono::milliseconds(100));
  EXPECT_EQ(slow.missed_ttft, 10u);
  EXPECT_EQ(slow.missed_ttft_prefill, 10u);
  // 400 short prompts at once on one replica of 256 sequences: the late ones waited for a place.
  Trace crowd;
  for (int i = 0; i < 400; ++i)
    crowd.requests.push_back(
        TraceRequest{Duration::zero(), Tokens(100), Tokens(8), {}, kModel, ""});
  const RunFigures queued = late(crowd, std::chrono::milliseconds(300));
  EXPECT_GT(queued.missed_ttft, 100u);
  EXPECT_GE(queued.missed_ttft_waiting, 9 * queued.missed_ttft_prefill);
  // The table says it too, in its last column.
  SimReport report;
  report.trace = &crowd;
  SimResult run;
  run.policy = "fixed";
  run.overall = queued;
  report.runs.push_back(run);
  const std::string table = report_table(report);
  EXPECT_NE(table.find("LATE WAIT/PREFILL\n"), std::string::npos) << table;
  EXPECT_NE(
      table.find(fmt::format(" {}/{}\n", queued.missed_ttft_waiting, queued.missed_ttft_prefill)),
      std::string::npos)
      << table;
}

TEST(Simulation, SameInputsGiveTheSameReport) {
  const Trace trace =
      synthetic(BurstArrivals{.on_rps = 12, .off_rps = 1, .on = seconds(20), .off = seconds(40)},
                minutes(4), 11);
  const auto once = [&] {
    SimInput in;
    in.cluster = cluster(2, 4);
    in.deployments = {deployment(1, 8, "target")};
    in.trace = &trace;
    SimReport report;
    report.trace = &trace;
    report.bound = workload_bound(in, SimOptions{});
    auto r = simulate(in, SimOptions{});
    EXPECT_TRUE(r) << r.error().message;
    if (r) report.runs.push_back(*r);
    return report_json(report);
  };
  const std::string a = once();
  EXPECT_EQ(a, once());
  EXPECT_NE(a.find("\"slo_attainment\""), std::string::npos);
}

TEST(Simulation, TheAutoscalerFollowsAStepAndTheColdStartsAreCharged) {
  const Trace trace =
      synthetic(StepArrivals{.before_rps = 1, .after_rps = 20, .at = minutes(2)}, minutes(8), 5);
  auto r = run(trace, {deployment(1, 8, "target")});
  ASSERT_TRUE(r) << r.error().message;
  const RunFigures& f = r->overall;
  EXPECT_EQ(f.requests, trace.requests.size());
  EXPECT_GE(f.max_replicas, 3) << "20 rps at 4 rps per replica (70% target) needs several";
  EXPECT_GE(f.scaling_actions, 1);
  EXPECT_GE(f.cold_starts, 2);
  // The replica count over time: 1 before the step, more after it.
  ASSERT_FALSE(r->timeline.empty());
  EXPECT_EQ(r->timeline.front().replicas.at(0), 1);
  int most = 0;
  for (const auto& p : r->timeline)
    most = std::max(most, p.replicas.at(0));
  EXPECT_EQ(most, f.max_replicas);
  // Fewer GPU-hours than holding the peak count throughout.
  auto fixed = run(trace, {deployment(f.max_replicas, f.max_replicas, std::nullopt)});
  ASSERT_TRUE(fixed) << fixed.error().message;
  EXPECT_LT(f.gpu_hours, fixed->overall.gpu_hours);
}

// The simulated agents report each engine's own TTFT histogram, as live agents scrape it, so the
// autoscaler's decisions carry the engines' TTFT p95 in the simulator as they do live.
TEST(Simulation, EnginesReportTheirTtftToTheAutoscalerAsLiveAgentsDo) {
  const Trace trace =
      synthetic(StepArrivals{.before_rps = 1, .after_rps = 20, .at = minutes(2)}, minutes(8), 5);
  auto r = run(trace, {deployment(1, 8, "target")});
  ASSERT_TRUE(r) << r.error().message;
  int with = 0;
  for (const ScalingAction& a : r->actions) {
    if (!a.engine_ttft_p95_ms) continue;
    ++with;
    // No network between gateway and engine here: an engine's TTFT is at most the client's, and
    // a p95 interpolated within the histogram's buckets is at most its last finite bound.
    EXPECT_GT(*a.engine_ttft_p95_ms, 0) << a.t;
    EXPECT_LE(*a.engine_ttft_p95_ms, static_cast<double>(kTtftBoundsMs.back())) << a.t;
  }
  EXPECT_GE(with, 1) << "the scale-ups after the step saw the engines' TTFT";
  // Their queue time too, counted as vLLM counts it: when each request finishes, in vLLM's
  // buckets from 0.3 s. Every request here finds a place in a batch at once (256 sequences take
  // the step), and no wait reads as vLLM's first bucket, in the gateways' (250, 500] ms.
  int queue = 0;
  for (const ScalingAction& a : r->actions) {
    if (!a.engine_queue_p95_ms) continue;
    ++queue;
    EXPECT_GT(*a.engine_queue_p95_ms, 250) << a.t;
    EXPECT_LE(*a.engine_queue_p95_ms, 500) << a.t;
  }
  EXPECT_GE(queue, 1) << "the scale-ups after the step saw the engines' queue time";
}

// The lower bound is a bound: below what every policy spent, on every trace shape, and the work
// floor below it.
TEST(Simulation, LowerBoundIsBelowEveryPolicy) {
  const std::vector<ArrivalPattern> shapes = {
      PoissonArrivals{.rps = 6},
      DiurnalArrivals{.mean_rps = 5, .amplitude = 0.8, .period = minutes(4)},
      BurstArrivals{.on_rps = 25, .off_rps = 0.5, .on = seconds(30), .off = seconds(60)},
  };
  uint64_t seed = 21;
  for (const ArrivalPattern& shape : shapes) {
    const Trace trace = synthetic(shape, minutes(3), seed++);
    SimInput in;
    in.cluster = cluster(2, 4);
    in.trace = &trace;
    in.deployments = {deployment(1, 8, "target")};
    const WorkBound bound = workload_bound(in, SimOptions{});
    EXPECT_GT(bound.work_floor_gpu_hours, 0);
    EXPECT_LE(bound.work_floor_gpu_hours, bound.lower_bound_gpu_hours);
    for (const std::string& policy : comparable_policies()) {
      auto d = with_policy({deployment(1, 8, "target")}, policy);
      ASSERT_TRUE(d) << d.error().message;
      in.deployments = *d;
      auto r = simulate(in, cold());
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_GE(r->overall.gpu_hours, bound.lower_bound_gpu_hours) << policy;
      EXPECT_GE(r->overall.cost, bound.lower_bound_cost) << policy;
    }
  }
}

// On a fleet of two GPU models the routing table gives each replica its speed, and least-work
// sends long prompts where they are done soonest: the same fixed fleet meets the SLO for more
// requests than when requests are spread by count.
TEST(Simulation, LeastWorkRoutesLongPromptsToTheFasterGpus) {
  SyntheticSpec spec;
  spec.arrivals = PoissonArrivals{.rps = 3};
  spec.sizes = LognormalSizes{Tokens(6000), 1.0, Tokens(128), 0.8, Tokens(60000), Tokens(1024)};
  spec.length = minutes(4);
  spec.seed = 17;
  auto trace = generate_trace(spec);
  ASSERT_TRUE(trace) << trace.error().message;
  for (auto& r : trace->requests)
    r.model = kModel;
  ClusterSpec c = cluster(1, 4);  // 4 A100s
  NodeSpec h;
  h.name = "h100-node";
  h.gpus.push_back(GpuGroupSpec{"H100-80GB", 2, MiB{81920}, 4.0, {}});
  h.nvlink_groups = {{0, 1}};
  c.nodes.push_back(h);
  SimOptions o = cold();
  o.slo = SloTarget{std::chrono::seconds(3), std::chrono::milliseconds(100)};
  const auto attainment = [&](const std::string& routing) {
    DeploymentSpec d = deployment(6, 6, std::nullopt);
    d.resources.gpu_models = {"H100-80GB", "A100-80GB"};
    d.routing = routing;
    auto r = run(*trace, {d}, c, o);
    EXPECT_TRUE(r) << r.error().message;
    return r ? r->overall.slo_attainment : 0.0;
  };
  const double by_count = attainment("least-outstanding");
  const double by_work = attainment("least-work");
  EXPECT_GT(by_work, by_count + 0.01)
      << "least-work " << by_work << ", least-outstanding " << by_count;
}

// The attainable share is a ceiling: with a TTFT target the longest prompts cannot meet on an idle
// replica, no policy meets the SLO for more requests than max_attainment() says, and the bound
// stays below every policy.
TEST(Simulation, NoPolicyMeetsTheSloForMoreThanTheAttainableShare) {
  const Trace trace = synthetic(PoissonArrivals{.rps = 6}, minutes(3), 31);
  SimOptions tight = cold();
  // A 7B prefill on an A100 takes about 150 ms at 2,000 tokens: a few percent of these prompts.
  tight.slo = SloTarget{std::chrono::milliseconds(150), std::chrono::milliseconds(100)};
  SimInput in;
  in.cluster = cluster(2, 4);
  in.trace = &trace;
  in.deployments = {deployment(1, 8, "target")};
  const WorkBound bound = workload_bound(in, tight);
  EXPECT_GT(bound.beyond_slo, 0u);
  EXPECT_LT(bound.max_attainment(), 1.0);
  EXPECT_GT(bound.max_attainment(), 0.8);
  for (const std::string& policy : comparable_policies()) {
    auto d = with_policy({deployment(1, 8, "target")}, policy);
    ASSERT_TRUE(d) << d.error().message;
    in.deployments = *d;
    auto r = simulate(in, tight);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_LE(r->overall.slo_attainment, bound.max_attainment()) << policy;
    EXPECT_GE(r->overall.gpu_hours, bound.lower_bound_gpu_hours) << policy;
  }
}

// The warm-up runs the opening requests once before they are measured, and an engine may still
// hold their prefix blocks when they come again: the bound counts those blocks as cacheable, or a
// policy could beat it.
TEST(Simulation, TheBoundCountsPrefixBlocksTheWarmUpLeftInTheCache) {
  Trace trace = synthetic(PoissonArrivals{.rps = 4}, minutes(3), 12);
  uint64_t next_block = 1;
  for (TraceRequest& r : trace.requests)  // every block the request's own: nothing shared
    for (int64_t t = 0; t < r.prompt.value; t += kTracePrefixBlockTokens.value)
      r.prefix_blocks.push_back(next_block++);
  SimInput in;
  in.cluster = cluster(2, 4);
  in.trace = &trace;
  in.deployments = {deployment(1, 8, "target")};
  SimOptions warm;
  warm.warmup = minutes(1);
  const WorkBound with = workload_bound(in, warm);
  const WorkBound without = workload_bound(in, cold());
  EXPECT_LT(with.lower_bound_gpu_hours, without.lower_bound_gpu_hours);
  auto r = simulate(in, warm);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_GE(r->overall.gpu_hours, with.lower_bound_gpu_hours);
}

// The warm-up replays the trace's opening before it, unmeasured: the measured run meets the
// opening load with the replicas the policy settled on, and nothing of the replay is counted.
TEST(Simulation, TheWarmUpIsReplayedButNotMeasured) {
  const Trace trace = synthetic(PoissonArrivals{.rps = 20}, minutes(4), 8);
  SimOptions warm;
  warm.warmup = minutes(2);
  auto w = run(trace, {deployment(1, 8, "target")}, cluster(2, 4), warm);
  auto c = run(trace, {deployment(1, 8, "target")});
  ASSERT_TRUE(w && c);
  EXPECT_EQ(w->overall.requests, trace.requests.size());
  EXPECT_EQ(c->overall.requests, trace.requests.size());
  ASSERT_FALSE(w->timeline.empty());
  ASSERT_FALSE(c->timeline.empty());
  EXPECT_EQ(c->timeline.front().replicas.at(0), 1);  // cold: replicas.min
  EXPECT_GE(w->timeline.front().replicas.at(0), 3);  // warm: what 20 rps at 4 per replica needs
  EXPECT_GT(w->overall.slo_attainment, c->overall.slo_attainment);
  EXPECT_LT(w->overall.cold_starts, c->overall.cold_starts);  // the scale-up happened before
}

// The HTML report stands alone: inline SVG charts of load, replicas, latency CDFs and GPUs by
// model for every policy, and nothing fetched from anywhere.
TEST(Simulation, TheHtmlReportIsSelfContainedWithAChartPerView) {
  const Trace trace = synthetic(PoissonArrivals{.rps = 6}, minutes(3), 9);
  SimInput in;
  in.cluster = cluster(2, 4);
  in.trace = &trace;
  SimReport report;
  report.trace = &trace;
  for (const std::string p : {"target", "kpa"}) {
    auto d = with_policy({deployment(1, 8, "target")}, p);
    ASSERT_TRUE(d);
    in.deployments = *d;
    auto r = simulate(in, cold());
    ASSERT_TRUE(r) << r.error().message;
    r->policy = p;
    EXPECT_EQ(r->ttft_cdf_ms.size(), 101u);
    EXPECT_TRUE(std::is_sorted(r->ttft_cdf_ms.begin(), r->ttft_cdf_ms.end()));
    ASSERT_FALSE(r->timeline.empty());
    EXPECT_EQ(r->timeline.front().gpus.at("A100-80GB"), 1);
    report.runs.push_back(*r);
  }
  const std::string html = report_html(report);
  EXPECT_EQ(html.rfind("<!doctype html>", 0), 0u);
  size_t figures = 0;
  for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1))
    ++figures;
  EXPECT_EQ(figures, 4u + report.runs.size());  // load, replicas, 2 CDFs, GPUs per policy
  EXPECT_NE(html.find("GPUs held by GPU model: kpa"), std::string::npos);
  // Nothing to fetch: the only URL is the SVG namespace.
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
}

TEST(Simulation, RefusesARequestForAModelNoDeploymentServes) {
  Trace trace = synthetic(PoissonArrivals{.rps = 1}, seconds(20), 1);
  trace.requests.back().model = "mistralai/Mistral-7B-v0.1";
  auto r = run(trace, {deployment(1, 1, std::nullopt)});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("mistralai/Mistral-7B-v0.1"), std::string::npos);
  EXPECT_NE(r.error().message.find("request " + std::to_string(trace.requests.size())),
            std::string::npos)
      << r.error().message;
}

TEST(Simulation, RefusesATenantNoManifestDefines) {
  Trace trace = synthetic(PoissonArrivals{.rps = 1}, seconds(20), 1);
  trace.requests.front().tenant = "team-z";
  SimInput in;
  in.cluster = cluster(1, 2);
  in.deployments = {deployment(1, 1, std::nullopt)};
  in.tenants = {TenantSpec{.name = "team-a"}};
  in.trace = &trace;
  auto r = simulate(in, SimOptions{});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("team-z"), std::string::npos) << r.error().message;
}

TEST(Simulation, MaxTokensSaysWhatTheGatewayKnowsOfARequestBeforeItRuns) {
  // Requests of 1,000 + 2,500 tokens against a tenant budget of 1,256 tokens a minute, four
  // minutes apart (the budget refills between them): asked with their true output as max_tokens,
  // each is too big for the budget ever to admit; asked with none, the gateway estimates 1,000 +
  // 256, just what the budget holds, and admits it.
  Trace trace;
  trace.name = "long-outputs";
  for (int i = 0; i < 4; ++i)
    trace.requests.push_back(
        TraceRequest{minutes(4 * i), Tokens(1000), Tokens(2500), {}, kModel, "team-a"});
  const auto with = [&](bool exact) {
    SimInput in;
    in.cluster = cluster(1, 2);
    in.deployments = {deployment(1, 1, std::nullopt)};
    in.tenants = {TenantSpec{.name = "team-a", .tokens_per_minute = Tokens(1256)}};
    in.trace = &trace;
    SimOptions o = cold();
    o.exact_max_tokens = exact;
    return simulate(in, o);
  };
  auto exact = with(true);
  ASSERT_TRUE(exact) << exact.error().message;
  EXPECT_EQ(exact->overall.rejected, trace.requests.size());
  EXPECT_EQ(exact->overall.served, 0u);
  auto none = with(false);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(none->overall.rejected, 0u);
  EXPECT_EQ(none->overall.served, trace.requests.size());
}

TEST(Simulation, APlacementThatCannotFitServesNothingAndSaysSo) {
  const Trace trace = synthetic(PoissonArrivals{.rps = 1}, seconds(30), 2);
  DeploymentSpec d = deployment(1, 1, std::nullopt);
  d.resources.gpu_models = {"H100-80GB"};  // the cluster has only A100s
  SimOptions o;
  o.max_tail = minutes(1);
  SimInput in;
  in.cluster = cluster(1, 2);
  in.deployments = {d};
  in.trace = &trace;
  auto r = simulate(in, o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->overall.served, 0u);
  EXPECT_EQ(r->overall.rejected + r->overall.failed, trace.requests.size());
  EXPECT_EQ(r->overall.gpu_hours, 0);
  EXPECT_EQ(r->overall.slo_attainment, 0);
}

TEST(SimSetup, DefaultDeploymentUsesTheClustersA100sAndH100s) {
  const Trace trace = synthetic(PoissonArrivals{.rps = 1}, seconds(30), 2);
  ClusterSpec c = cluster(2, 8);
  c.nodes[1].gpus[0].model = "H100-80GB";
  auto d = default_deployment(c, trace, "meta-llama/Llama-2-70b-hf", 4, SloTarget{});
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->resources.gpus, 4);
  EXPECT_EQ(d->resources.gpu_models, (std::vector<std::string>{"H100-80GB", "A100-80GB"}));
  EXPECT_EQ(d->replicas.min, 1);
  EXPECT_EQ(d->replicas.max, 4);
  ASSERT_TRUE(d->autoscaling);
  EXPECT_GT(d->autoscaling->replica_capacity, 0.1);

  ClusterSpec l40;
  l40.nodes.push_back(NodeSpec{"n", {}, {GpuGroupSpec{"L40S", 4, MiB{46068}, 1.0, {}}}, {}});
  auto none = default_deployment(l40, trace, "meta-llama/Llama-2-70b-hf", 4, SloTarget{});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("--deployments"), std::string::npos);
}

TEST(SimSetup, WithPolicyKnowsFixedAndTheScalingPoliciesOnly) {
  auto fixed = with_policy({deployment(1, 6, "target")}, "fixed");
  ASSERT_TRUE(fixed);
  EXPECT_FALSE(fixed->front().autoscaling);
  EXPECT_EQ(fixed->front().replicas.min, 6);
  auto slo = with_policy({deployment(1, 6, std::nullopt)}, "slo");
  ASSERT_TRUE(slo);
  ASSERT_TRUE(slo->front().autoscaling);
  EXPECT_EQ(slo->front().autoscaling->policy, "slo");
  auto bad = with_policy({deployment(1, 6, std::nullopt)}, "hpa-ish");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("threshold"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("target/work"), std::string::npos) << bad.error().message;
  // On work: the policy, the metric and a capacity of one replica; the other settings kept.
  DeploymentSpec own = deployment(1, 6, "target");
  own.autoscaling->target_utilization = 0.6;
  auto work = with_policy({own}, "target/work");
  ASSERT_TRUE(work) << work.error().message;
  ASSERT_TRUE(work->front().autoscaling);
  EXPECT_EQ(work->front().autoscaling->policy, "target");
  EXPECT_EQ(work->front().autoscaling->metric, ScalingMetric::kWork);
  EXPECT_DOUBLE_EQ(work->front().autoscaling->replica_capacity, 1);
  EXPECT_DOUBLE_EQ(work->front().autoscaling->target_utilization, 0.6);
  // Policies that size from the perf model themselves read no metric: no "/work" for them.
  for (const char* name : {"slo/work", "dynamo-sla/work", "fixed/work"})
    EXPECT_FALSE(with_policy({own}, name)) << name;
}

TEST(SimSetup, AnAutoBudgetIsTheSameUnderEveryPolicyOfAComparison) {
  // A manifest's `auto` follows its autoscaling SLO; `fixed` drops the autoscaling, and must not
  // drop the engines' budget with it.
  DeploymentSpec d = deployment(1, 6, "target");
  d.autoscaling->slo_ttft = seconds(5);
  d.autoscaling->slo_tpot = std::chrono::milliseconds(40);
  d.engine.max_batched_tokens = BatchedTokensSpec{.automatic = true};
  const auto own = engine_iteration_budget(d, "A100-80GB");
  ASSERT_TRUE(own.has_value());
  DeploymentSpec unpinned = d;
  unpinned.autoscaling.reset();
  ASSERT_NE(engine_iteration_budget(unpinned, "A100-80GB"), own);  // the test would show a change
  for (const std::string policy : {"fixed", "target", "slo", "kpa"}) {
    auto under = with_policy({d}, policy);
    ASSERT_TRUE(under);
    EXPECT_EQ(engine_iteration_budget(under->front(), "A100-80GB"), own) << policy;
  }
}

TEST(SimSetup, EnginesWithoutChunksDropAnAutoBudgetTheyWereNotAskedFor) {
  const Trace trace = synthetic(PoissonArrivals{.rps = 1}, seconds(10), 1);
  std::vector<DeploymentSpec> ds = {deployment(1, 1, std::nullopt)};
  ds[0].engine.max_batched_tokens = BatchedTokensSpec{.automatic = true};
  ASSERT_TRUE(set_iteration_budget(ds, trace, SloTarget{}, "", /*chunked=*/true).ok());
  EXPECT_TRUE(ds[0].engine.max_batched_tokens.has_value());
  ASSERT_TRUE(set_iteration_budget(ds, trace, SloTarget{}, "", /*chunked=*/false).ok());
  EXPECT_FALSE(ds[0].engine.max_batched_tokens.has_value());
  ASSERT_TRUE(set_iteration_budget(ds, trace, SloTarget{}, "auto", /*chunked=*/false).ok());
  ASSERT_TRUE(ds[0].engine.max_batched_tokens.has_value());  // asked for by name: kept
  EXPECT_TRUE(ds[0].engine.max_batched_tokens->automatic);
  ASSERT_TRUE(set_iteration_budget(ds, trace, SloTarget{}, "1000", /*chunked=*/false).ok());
  EXPECT_EQ(ds[0].engine.max_batched_tokens->tokens, Tokens(1000));
  const Status bad = set_iteration_budget(ds, trace, SloTarget{}, "-5");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("\"-5\" is not auto, default or a number"), std::string::npos)
      << bad.error().message;
}

TEST(SimSetup, NameModelsNeedsOneDeploymentForUnnamedRequests) {
  Trace trace = synthetic(PoissonArrivals{.rps = 1}, seconds(10), 1);
  for (auto& r : trace.requests)
    r.model.clear();
  ASSERT_TRUE(name_models(trace, {deployment(1, 1, std::nullopt)}).ok());
  EXPECT_EQ(trace.requests.front().model, kModel);
  for (auto& r : trace.requests)
    r.model.clear();
  DeploymentSpec other = deployment(1, 1, std::nullopt);
  other.name = "other";
  auto s = name_models(trace, {deployment(1, 1, std::nullopt), other});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("--models"), std::string::npos);
}

}  // namespace
}  // namespace gf
