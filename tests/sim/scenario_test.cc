// Scenario files: faults at given times, parsed strictly, and played by the simulator as the live
// system would meet them — the core replaces what was lost and traffic keeps being served.
#include "sim/scenario.h"

#include <gtest/gtest.h>

#include "sim/sim_report.h"
#include "sim/sim_setup.h"
#include "sim/simulation.h"
#include "sim/synthetic.h"

namespace gf {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

TEST(Scenario, ParsesEveryKindSortedByTime) {
  auto s = parse_scenario(R"(events:
  - {at: 2m, kind: engine-crash, deployment: llama}
  - {at: 30s, kind: node-loss, node: node-0}
  - {at: 90s, kind: gpu-fault, node: node-1, gpu: 3}
  - {at: 5m, kind: node-return, node: node-0}
)",
                          "s.yaml");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->events.size(), 4u);
  EXPECT_EQ(s->events[0].kind, FaultKind::kNodeLoss);
  EXPECT_EQ(s->events[0].at, seconds(30));
  EXPECT_EQ(s->events[1].kind, FaultKind::kGpuFault);
  EXPECT_EQ(s->events[1].gpu, 3);
  EXPECT_EQ(s->events[1].reason, "XID 79");
  EXPECT_EQ(s->events[2].deployment, "llama");
  EXPECT_EQ(s->events[3].kind, FaultKind::kNodeReturn);
}

TEST(Scenario, EveryProblemIsReportedWithItsPosition) {
  auto s = parse_scenario(R"(events:
  - {at: soon, kind: node-loss, node: a}
  - {at: 1m, kind: node-los, node: a}
  - {at: 1m, kind: gpu-fault, node: a}
  - {at: 1m, kind: engine-crash, colour: red, deployment: d}
)",
                          "s.yaml");
  ASSERT_FALSE(s);
  const std::string& m = s.error().message;
  EXPECT_NE(m.find("s.yaml:2:"), std::string::npos) << m;
  EXPECT_NE(m.find("events[0].at: invalid duration"), std::string::npos) << m;
  EXPECT_NE(m.find("s.yaml:3:"), std::string::npos) << m;
  EXPECT_NE(m.find("unknown kind \"node-los\" (known: node-loss, node-return, gpu-fault, "
                   "engine-crash)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("events[2].gpu: required"), std::string::npos) << m;
  EXPECT_NE(m.find("events[3].colour: unknown field"), std::string::npos) << m;
  EXPECT_FALSE(parse_scenario("events: [", "s.yaml"));
  EXPECT_FALSE(parse_scenario("faults: []", "s.yaml"));
}

// --- played by the simulator

constexpr const char* kModel = "meta-llama/Llama-2-7b-hf";

SimInput input(const Trace& trace) {
  SimInput in;
  for (int n = 0; n < 3; ++n) {
    NodeSpec node{"node-" + std::to_string(n),
                  {},
                  {GpuGroupSpec{"A100-80GB", 2, MiB{81920}, 2.0, {}}},
                  {{0, 1}}};
    in.cluster.nodes.push_back(node);
  }
  DeploymentSpec d;
  d.name = "llama";
  d.model = kModel;
  d.resources.gpu_models = {"A100-80GB"};
  d.replicas = {2, 2};
  in.deployments = {d};
  in.trace = &trace;
  return in;
}

Trace steady(uint64_t seed) {
  SyntheticSpec spec;
  spec.arrivals = PoissonArrivals{.rps = 4};
  spec.sizes = LognormalSizes{Tokens(512), 0.5, Tokens(128), 0.5, Tokens(4096), Tokens(512)};
  spec.length = minutes(6);
  spec.seed = seed;
  auto t = generate_trace(spec);
  EXPECT_TRUE(t);
  for (auto& r : t->requests)
    r.model = kModel;
  return *t;
}

SimOptions cold() {
  SimOptions o;
  o.warmup = Duration::zero();
  return o;
}

TEST(ScenarioRun, ANodeLostMidRunIsReplacedAndTrafficKeepsBeingServed) {
  const Trace trace = steady(4);
  SimInput in = input(trace);
  auto base = simulate(in, cold());
  ASSERT_TRUE(base) << base.error().message;
  // Both replicas start on the first nodes placement picks; losing every node once, in turn,
  // is sure to hit one of them.
  in.scenario.events = {{minutes(1), FaultKind::kNodeLoss, "node-0"},
                        {minutes(1), FaultKind::kNodeLoss, "node-1"},
                        {minutes(4), FaultKind::kNodeReturn, "node-0"}};
  auto r = simulate(in, cold());
  ASSERT_TRUE(r) << r.error().message;
  const RunFigures& f = r->overall;
  EXPECT_EQ(f.requests, trace.requests.size());
  EXPECT_GE(f.cold_starts, 1) << "a replacement was started";
  EXPECT_GT(f.served, trace.requests.size() * 9 / 10);
  EXPECT_LT(f.slo_attainment, base->overall.slo_attainment);
  // Replicas on a lost node stop being charged: held GPU time falls below the undisturbed run's
  // unless replacements made up for all of it.
  EXPECT_LE(f.gpu_hours, base->overall.gpu_hours * 1.01);
}

TEST(ScenarioRun, AGpuFaultMovesItsReplicaAndAnEngineCrashRestartsOne) {
  const Trace trace = steady(5);
  SimInput in = input(trace);
  in.scenario.events = {{minutes(1), FaultKind::kEngineCrash, "", 0, "llama"}};
  auto crash = simulate(in, cold());
  ASSERT_TRUE(crash) << crash.error().message;
  EXPECT_EQ(crash->overall.engine_restarts, 1);
  EXPECT_EQ(crash->overall.cold_starts, 1);
  EXPECT_EQ(crash->overall.requests, trace.requests.size());

  // Every GPU of every node faults but node-2's: the replicas end up there.
  in.scenario.events.clear();
  for (int n = 0; n < 2; ++n)
    for (int g = 0; g < 2; ++g)
      in.scenario.events.push_back(
          {minutes(1), FaultKind::kGpuFault, "node-" + std::to_string(n), g, "", "XID 79"});
  auto fault = simulate(in, cold());
  ASSERT_TRUE(fault) << fault.error().message;
  EXPECT_GE(fault->overall.cold_starts, 1);
  EXPECT_GT(fault->overall.served, trace.requests.size() * 9 / 10);
}

TEST(ScenarioRun, AnEventNamingWhatIsNotThereIsAnError) {
  const Trace trace = steady(6);
  SimInput in = input(trace);
  in.scenario.events = {{minutes(1), FaultKind::kGpuFault, "node-1", 7, "", "XID 79"}};
  auto r = simulate(in, cold());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("node \"node-1\" has 2 GPUs"), std::string::npos)
      << r.error().message;
  in.scenario.events = {{minutes(1), FaultKind::kNodeLoss, "node-9"}};
  EXPECT_FALSE(simulate(in, cold()));
  in.scenario.events = {{minutes(1), FaultKind::kEngineCrash, "", 0, "nope"}};
  EXPECT_FALSE(simulate(in, cold()));
}

// The simulator's two shortcuts must change nothing a run reports, byte for byte, through faults,
// autoscaling, the warm-up's end and the tail: engines running their quiet decode iterations in
// one step, and agents taking the fleet's "unchanged" heartbeat answers (a node that returns
// gets a new agent, which has applied no set yet).
TEST(ScenarioRun, TheSimulatorsShortcutsChangeNothingInTheReport) {
  const Trace trace = steady(7);
  for (const char* policy : {"fixed", "target", "kpa"}) {
    SimInput in = input(trace);
    in.deployments[0].replicas = {1, 4};
    in.deployments = *with_policy(in.deployments, policy);
    in.scenario.events = {{minutes(1), FaultKind::kEngineCrash, "", 0, "llama"},
                          {seconds(90), FaultKind::kNodeLoss, "node-1"},
                          {minutes(2), FaultKind::kGpuFault, "node-0", 1, "XID 79"},
                          {minutes(4), FaultKind::kNodeReturn, "node-1"}};
    const auto report = [&](bool batch, bool unchanged) {
      SimOptions o;
      o.warmup = minutes(2);
      o.batch_quiet_iterations = batch;
      o.unchanged_heartbeat_answers = unchanged;
      SimReport r;
      r.trace = &trace;
      auto run = simulate(in, o);
      EXPECT_TRUE(run) << run.error().message;
      if (!run) return std::string();
      EXPECT_GE(run->overall.engine_restarts, 1) << policy;
      EXPECT_GT(run->overall.served, trace.requests.size() / 2) << policy;
      r.runs.push_back(*run);
      return report_json(r);
    };
    const std::string reference = report(false, false);
    EXPECT_EQ(report(true, false), reference) << policy << ": quiet iterations in one step";
    EXPECT_EQ(report(false, true), reference) << policy << ": unchanged heartbeat answers";
    EXPECT_EQ(report(true, true), reference) << policy << ": both (the default)";
  }
}

}  // namespace
}  // namespace gf
