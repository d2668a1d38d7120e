// The controller's pure core: placement through heartbeats, the replica lifecycle, node loss and
// fencing, scaling, rolling updates, and rebuilding from the store after a restart — all with a
// manual clock and seeded randomness.
#include "fleet/fleet.h"
#include "perfmodel/iteration_budget.h"
#include "perfmodel/replica_capacity.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "controller/fleet_persistence.h"
#include "fake_agent.h"
#include "fleet/rollout_strategy.h"
#include "store/sqlite_store.h"

namespace gf {
namespace {

using namespace std::chrono_literals;

DeploymentSpec deployment(const std::string& name, int replicas, int max = 8) {
  return one_gpu_deployment(name, replicas, max);
}

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto f = Fleet::create(PlacementSpec{}, FleetOptions{}, clock.now());
    ASSERT_TRUE(f.ok()) << f.error().message;
    fleet.emplace(std::move(*f));
  }

  void round(std::vector<FakeAgent*> agents, Duration step = 1s) {
    for (auto* a : agents)
      a->exchange(*fleet, clock.now());
    fleet->tick(clock.now());
    clock.advance(step);
  }

  int count(const std::string& dep, ReplicaState s) const {
    int n = 0;
    for (const auto& [id, r] : fleet->replicas())
      n += r.deployment == dep && r.state == s;
    return n;
  }

  ManualClock clock;
  std::optional<Fleet> fleet;
};

TEST_F(FleetTest, ReplicasWaitWithAReasonUntilANodeRegistersThenGetPlaced) {
  ASSERT_TRUE(fleet->apply(deployment("llama", 2), "m", clock.now()).ok());
  ASSERT_EQ(count("llama", ReplicaState::kPending), 2);
  EXPECT_NE(fleet->replicas().begin()->second.reason.find("0/0 GPUs"), std::string::npos)
      << fleet->replicas().begin()->second.reason;

  FakeAgent a{"node-1"};
  a.exchange(*fleet, clock.now());
  fleet->tick(clock.now());
  EXPECT_EQ(count("llama", ReplicaState::kPlaced), 2);
  auto reply = a.exchange(*fleet, clock.now());
  ASSERT_EQ(reply.replicas.size(), 2u);
  EXPECT_NE(reply.replicas[0].gpus, reply.replicas[1].gpus);  // whole GPUs are never shared
  EXPECT_GT(reply.generation, 0);
  EXPECT_EQ(reply.replicas[0].model, "meta-llama/Llama-2-7b-hf");
}

TEST_F(FleetTest, AssignmentsNameTheEnginesIterationBudgetResolvedForTheirGpu) {
  DeploymentSpec fixed = deployment("fixed", 1);
  fixed.engine.max_batched_tokens = BatchedTokensSpec{.tokens = Tokens(1000)};
  DeploymentSpec automatic = deployment("auto", 1);
  automatic.engine.max_batched_tokens = BatchedTokensSpec{.automatic = true};
  automatic.autoscaling = AutoscalingSpec{};
  automatic.autoscaling->slo_tpot = std::chrono::milliseconds(60);
  DeploymentSpec plain = deployment("plain", 1);
  for (const DeploymentSpec* d : {&fixed, &automatic, &plain})
    ASSERT_TRUE(fleet->apply(*d, "m", clock.now()).ok());
  FakeAgent a{"node-1"};
  round({&a});
  const NodeAssignment reply = a.exchange(*fleet, clock.now());
  ASSERT_EQ(reply.replicas.size(), 3u);
  for (const ReplicaAssignment& r : reply.replicas) {
    if (r.deployment == "fixed") {
      EXPECT_EQ(r.max_batched_tokens, Tokens(1000));
    } else if (r.deployment == "auto") {
      // The one resolution every engine of the deployment on this GPU model gets: the perf
      // model's, at the deployment's TPOT target, under the GPU's vLLM default.
      const auto want = engine_iteration_budget(automatic, r.gpu_model);
      ASSERT_TRUE(want.has_value()) << r.gpu_model;
      EXPECT_EQ(r.max_batched_tokens, want);
      EXPECT_LT(want->value, PerfModel::default_max_batched_tokens(r.gpu_model).value);
    } else {
      EXPECT_FALSE(r.max_batched_tokens.has_value());  // the engine keeps its own default
    }
  }
  // `auto` follows the targets: a looser one is a new revision, whose engines get a larger budget.
  DeploymentSpec looser = automatic;
  looser.autoscaling->slo_tpot = std::chrono::milliseconds(200);
  EXPECT_NE(deployment_revision(looser), deployment_revision(automatic));
  const std::string gpu = reply.replicas[0].gpu_model;
  EXPECT_GT(engine_iteration_budget(looser, gpu)->value,
            engine_iteration_budget(automatic, gpu)->value);
}

TEST_F(FleetTest, ReadyReplicasEnterTheRoutingTableAndTheVersionMovesOnlyOnChange) {
  ASSERT_TRUE(fleet->apply(deployment("llama", 2), "m", clock.now()).ok());
  FakeAgent a{"node-1"};
  round({&a});
  round({&a});
  round({&a});
  EXPECT_EQ(count("llama", ReplicaState::kReady), 2);
  const RoutingTable& t = fleet->routing_table();
  ASSERT_EQ(t.models.size(), 1u);
  ASSERT_EQ(t.models[0].revisions.size(), 1u);
  EXPECT_EQ(t.models[0].revisions[0].replicas.size(), 2u);
  EXPECT_EQ(t.models[0].revisions[0].replicas[0].address.rfind("10.0.0.1:", 0), 0u);
  uint64_t v = t.version;
  round({&a});
  round({&a});
  EXPECT_EQ(fleet->routing_table().version, v);
}

// ---- engine load in the routing table

ReplicaLoad engine(int running, int waiting, double kv, Duration age = 200ms) {
  ReplicaLoad l;
  l.running = running;
  l.waiting = waiting;
  l.kv_cache_usage = kv;
  l.prompt_tokens = Tokens(1000);
  l.generation_tokens = Tokens(400);
  l.age = age;
  return l;
}

class FleetLoadTest : public FleetTest {
 protected:
  // Two Ready replicas on one node, both reporting a quiet engine.
  void SetUp() override {
    FleetTest::SetUp();
    ASSERT_TRUE(fleet->apply(deployment("llama", 2), "m", clock.now()).ok());
    for (int i = 0; i < 3; ++i)
      round({&a});
    ASSERT_EQ(count("llama", ReplicaState::kReady), 2);
    for (const auto& [id, r] : fleet->replicas())
      ids.push_back(id);
    for (const auto& id : ids)
      a.loads[id] = engine(1, 0, 0.10);
    round({&a}, 2s);  // past the load interval of the first table's version
  }
  const RouteReplica& route(size_t i) const {
    return fleet->routing_table().models.at(0).revisions.at(0).replicas.at(i);
  }
  // One heartbeat `step` after the last, then a tick (what the controller's timer does).
  void beat(Duration step) {
    clock.advance(step);
    a.exchange(*fleet, clock.now());
    fleet->tick(clock.now());
  }

  FakeAgent a{"node-1"};
  std::vector<std::string> ids;
};

TEST_F(FleetLoadTest, TheTableCarriesEachReplicasEngineLoad) {
  EXPECT_EQ(route(0).kv_cache_usage, 0.10);
  EXPECT_EQ(route(0).queue_length, 0);
  auto l = fleet->replica_load(ids[0], clock.now());
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->running, 1);
  EXPECT_EQ(l->prompt_tokens, Tokens(1000));
  // The age counts from when the agent read it: 200 ms old when sent, 2 s since.
  EXPECT_EQ(l->age, 2200ms);
}

TEST_F(FleetLoadTest, ALoadOnlyChangeBumpsTheVersionOnlyPastTheThreshold) {
  const uint64_t v = fleet->routing_table().version;
  // Below both steps: a queue one longer, KV usage 0.04 higher.
  a.loads[ids[0]] = engine(1, 1, 0.14);
  beat(2s);
  EXPECT_EQ(fleet->routing_table().version, v);
  EXPECT_EQ(route(0).queue_length, 0);  // the value last published stays
  // Queue length moved by 2 since the published value: published.
  a.loads[ids[0]] = engine(1, 2, 0.14);
  beat(2s);
  EXPECT_EQ(fleet->routing_table().version, v + 1);
  EXPECT_EQ(route(0).queue_length, 2);
  EXPECT_EQ(route(0).kv_cache_usage, 0.14);  // the whole fresh load goes with it
  // KV usage moved by 0.05: published.
  a.loads[ids[0]] = engine(1, 2, 0.19);
  beat(2s);
  EXPECT_EQ(fleet->routing_table().version, v + 2);
  // Steady load, for many heartbeats: no version at all.
  for (int i = 0; i < 10; ++i)
    beat(1s);
  EXPECT_EQ(fleet->routing_table().version, v + 2);
}

TEST_F(FleetLoadTest, LoadOnlyVersionsComeAtMostOncePerInterval) {
  const uint64_t v = fleet->routing_table().version;
  a.loads[ids[0]] = engine(1, 5, 0.10);
  beat(2s);
  ASSERT_EQ(fleet->routing_table().version, v + 1);
  // 100 ms later both replicas moved a lot: held until the interval has passed...
  a.loads[ids[0]] = engine(1, 9, 0.50);
  a.loads[ids[1]] = engine(1, 9, 0.50);
  beat(100ms);
  EXPECT_EQ(fleet->routing_table().version, v + 1);
  ASSERT_TRUE(fleet->next_deadline().has_value());
  EXPECT_LE(*fleet->next_deadline(), clock.now() + 900ms);
  // ... then published once, with both, by the tick at that deadline.
  clock.set(*fleet->next_deadline());
  fleet->tick(clock.now());
  EXPECT_EQ(fleet->routing_table().version, v + 2);
  EXPECT_EQ(route(0).queue_length, 9);
  EXPECT_EQ(route(1).queue_length, 9);
}

TEST_F(FleetLoadTest, AReplicaThatStopsReportingIsUnknownNeverZero) {
  const uint64_t v = fleet->routing_table().version;
  a.loads.erase(ids[1]);
  beat(2s);
  EXPECT_EQ(fleet->routing_table().version, v + 1);  // known -> unknown always matters
  EXPECT_FALSE(route(1).kv_cache_usage.has_value());
  EXPECT_FALSE(route(1).queue_length.has_value());
  EXPECT_FALSE(fleet->replica_load(ids[1], clock.now()).has_value());
  EXPECT_TRUE(route(0).kv_cache_usage.has_value());
}

TEST_F(FleetLoadTest, ALoadNobodyRefreshesExpiresFromTheTable) {
  // The agent goes quiet: its last reading is 200 ms old at 2 s before now.
  const TimePoint read = clock.now() - 2s - 200ms;
  ASSERT_TRUE(fleet->replica_load(ids[0], clock.now()).has_value());
  // Three heartbeat intervals after the reading it is no longer used, and the table drops it.
  const std::optional<TimePoint> expiry = fleet->next_deadline();
  ASSERT_TRUE(expiry.has_value());
  EXPECT_LE(*expiry, read + 3s + 1ns);
  clock.set(read + 3s + 1ns);
  EXPECT_FALSE(fleet->replica_load(ids[0], clock.now()).has_value());
  fleet->tick(clock.now());
  EXPECT_FALSE(route(0).kv_cache_usage.has_value());
  EXPECT_FALSE(route(1).queue_length.has_value());
}

TEST_F(FleetTest, AnOlderHeartbeatOfTheSameAgentChangesNothing) {
  FakeAgent a{"node-1"};
  NodeReport first = a.beat();
  NodeReport second = a.beat();
  ASSERT_TRUE(fleet->heartbeat(second, clock.now()).ok());
  auto late = fleet->heartbeat(first, clock.now());
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, ErrorCode::kFailedPrecondition);
  // A restarted agent (new id) starts its own sequence.
  a.agent_id = "agent-2";
  a.seq = 0;
  EXPECT_TRUE(fleet->heartbeat(a.beat(), clock.now()).ok());
}

TEST_F(FleetTest, ALostNodesReplicasArePlacedElsewhereAndFencedWhenItReturns) {
  ASSERT_TRUE(fleet->apply(deployment("llama", 2), "m", clock.now()).ok());
  FakeAgent a{"node-1", 2};
  round({&a});
  FakeAgent b{"node-2", 2};
  round({&a, &b});
  round({&a, &b});
  for (const auto& [id, r] : fleet->replicas())
    EXPECT_EQ(r.node, "node-1");
  std::set<std::string> before;
  for (const auto& [id, r] : fleet->replicas())
    before.insert(id);

  // node-1 goes silent past its lease.
  for (int i = 0; i < 14; ++i)
    round({&b});
  EXPECT_EQ(fleet->nodes().at("node-1").state, NodeState::kLost);
  EXPECT_EQ(count("llama", ReplicaState::kReady), 2);

  for (const auto& [id, r] : fleet->replicas()) {
    EXPECT_EQ(r.node, "node-2") << id << " " << to_string(r.state) << " " << r.reason;
    EXPECT_EQ(before.count(id), 0u) << id << " should have been replaced";
  }
  // node-1 comes back still running the old replicas: it is told to run nothing.
  auto reply = a.exchange(*fleet, clock.now());
  EXPECT_TRUE(reply.replicas.empty());
  EXPECT_EQ(fleet->nodes().at("node-1").state, NodeState::kReady);
  for (const auto& [id, al] : fleet->pool().allocations()) {
    EXPECT_EQ(fleet->pool().node(al.node).name, "node-2");
  }
}

// ---- replicas on Faulty or Lost GPUs (#17, defect 1: they stayed Ready and took traffic for
// 70 s and more)

// The one replica of "llama" (asserted to be one).
const ReplicaRecord& only_replica(const Fleet& f) {
  EXPECT_EQ(f.replicas().size(), 1u);
  return f.replicas().begin()->second;
}

size_t routed(const Fleet& f) {
  size_t n = 0;
  for (const auto& m : f.routing_table().models)
    for (const auto& rev : m.revisions)
      n += rev.replicas.size();
  return n;
}

// An overheated GPU still works: its replica keeps serving until a replacement is Ready
// elsewhere, then drains. The model is never without a routable replica.
TEST_F(FleetTest, AReplicaOnAnOverheatedGpuServesUntilItsReplacementIsReadyThenDrains) {
  ASSERT_TRUE(fleet->apply(deployment("llama", 1), "m", clock.now()).ok());
  FakeAgent a{"node-1", 1};
  FakeAgent b{"node-2", 1};
  for (int i = 0; i < 3; ++i)
    round({&a, &b});
  const ReplicaRecord first = only_replica(*fleet);
  ASSERT_EQ(first.state, ReplicaState::kReady);
  FakeAgent& host = first.node == "node-1" ? a : b;
  host.gpu_health[0] = {Health::kFaulty, "overheat: 95°C >= 85°C for 3 samples"};

  round({&a, &b});
  ASSERT_EQ(fleet->replicas().count(first.id), 1u);
  EXPECT_EQ(fleet->replicas().at(first.id).state, ReplicaState::kReady);  // still serving
  EXPECT_EQ(fleet->replicas().size(), 2u);                                // + its replacement
  bool moving = false;
  for (const auto& e : fleet->events())
    moving = moving || (e.subject == first.id && e.to == "Moving");
  EXPECT_TRUE(moving);

  for (int i = 0; i < 4; ++i) {
    round({&a, &b});
    EXPECT_GE(routed(*fleet), 1u) << "round " << i;
  }
  EXPECT_EQ(count("llama", ReplicaState::kReady), 1);
  for (const auto& [id, r] : fleet->replicas()) {
    if (r.state != ReplicaState::kReady) continue;
    EXPECT_NE(id, first.id);
    EXPECT_NE(r.node, first.node);
  }
  const auto& table = fleet->routing_table().models.at(0).revisions.at(0).replicas;
  ASSERT_EQ(table.size(), 1u);
  EXPECT_NE(table[0].id, first.id);
}

// A fatal XID or a lost GPU leaves the engine unusable: it leaves routing and its agent's set at
// once, and a replacement is placed on a healthy GPU.
TEST_F(FleetTest, AReplicaOnAGpuWithAFatalXidOrLostIsStoppedAtOnceAndReplaced) {
  for (const auto& [health, reason] : std::vector<std::pair<Health, std::string>>{
           {Health::kFaulty, "XID 79 (fatal)"}, {Health::kLost, "GPU is lost"}}) {
    SetUp();
    ASSERT_TRUE(fleet->apply(deployment("llama", 1), "m", clock.now()).ok());
    FakeAgent a{"node-1", 2};
    for (int i = 0; i < 3; ++i)
      round({&a});
    const ReplicaRecord first = only_replica(*fleet);
    ASSERT_EQ(first.state, ReplicaState::kReady);
    const int index = first.gpus.at(0).back() - '0';
    a.gpu_health[index] = {health, reason};

    auto reply = a.exchange(*fleet, clock.now());
    fleet->tick(clock.now());
    EXPECT_EQ(fleet->replicas().count(first.id), 0u) << reason;
    EXPECT_EQ(routed(*fleet), 0u) << reason;  // nothing healthy serves yet: no false promise
    reply = a.exchange(*fleet, clock.now());
    for (const auto& r : reply.replicas)
      EXPECT_NE(r.id, first.id) << reason;  // the agent stops it at once
    ASSERT_EQ(fleet->replicas().size(), 1u) << reason;
    EXPECT_NE(fleet->replicas().begin()->second.gpus, first.gpus) << reason;
    bool failed = false;
    for (const auto& e : fleet->events())
      failed = failed || (e.subject == first.id && e.to == "Failed" &&
                          e.reason.find(reason) != std::string::npos);
    EXPECT_TRUE(failed) << reason;
    for (int i = 0; i < 3; ++i)
      round({&a});
    EXPECT_EQ(count("llama", ReplicaState::kReady), 1) << reason;
  }
}

// #17, defect 12: when every replica crash-loops the table says why, so gateways refuse at once
// instead of holding requests for 30 s; one replica that may still come clears it.
TEST_F(FleetTest, ATableEntryWhoseReplicasAllCrashLoopSaysWhy) {
  ASSERT_TRUE(fleet->apply(deployment("llama", 2), "m", clock.now()).ok());
  FakeAgent a{"node-1"};
  a.healthy_replicas = false;  // every engine it runs reports CrashLoop
  for (int i = 0; i < 3; ++i)
    round({&a});
  ASSERT_EQ(count("llama", ReplicaState::kCrashLoop), 2);
  const auto& m = fleet->routing_table().models.at(0);
  EXPECT_TRUE(m.revisions.empty());
  EXPECT_EQ(m.unavailable.rfind("0 of 2 replicas ready, 2 crash-looping", 0), 0u) << m.unavailable;
  EXPECT_EQ(fleet->why_unavailable("llama"), m.unavailable);
  a.healthy_replicas = true;
  round({&a});
  round({&a});
  EXPECT_EQ(fleet->routing_table().models.at(0).unavailable, "");
  EXPECT_EQ(fleet->why_unavailable("llama"), "");
}

TEST(FleetScaleDown, RemovesTheLeastCostEfficientReadyReplicaFirst) {
  // A100 at $2/h with capacity 1, H100 at $4/h with capacity 1.5: the H100 costs more per unit
  // of capacity, so scaling 2 -> 1 drains the replica on it.
  PlacementSpec placement;
  placement.gpu_prices = {{"A100-80GB", 2.0}, {"H100-80GB", 4.0}};
  placement.capacity_hints = {{"H100-80GB", 1.5}};
  ManualClock clock;
  auto f = Fleet::create(placement, FleetOptions{}, clock.now());
  ASSERT_TRUE(f.ok()) << f.error().message;
  FakeAgent a{"node-1", 1};
  FakeAgent h{"node-2", 1, "H100-80GB"};
  h.agent_id = "agent-2";
  ASSERT_TRUE(f->apply(deployment("web", 1), "", clock.now()).ok());
  ASSERT_TRUE(f->scale("web", 2, clock.now()).ok());
  for (int i = 0; i < 3; ++i) {
    a.exchange(*f, clock.now());
    h.exchange(*f, clock.now());
    f->tick(clock.now());
    clock.advance(1s);
  }
  ASSERT_EQ(a.running.size() + h.running.size(), 2u);
  ASSERT_TRUE(f->scale("web", 1, clock.now()).ok());
  for (const auto& [id, r] : f->replicas()) {
    if (r.state == ReplicaState::kDraining) {
      EXPECT_EQ(r.gpu_model, "H100-80GB");
    }
    if (r.state == ReplicaState::kReady) {
      EXPECT_EQ(r.gpu_model, "A100-80GB");
    }
  }
  EXPECT_EQ(f->pool().gpu(*f->pool().find_gpu("GPU-node-2-0")).price_per_hour, 4.0);
}

// Without capacity hints a GPU model's capacity is the perf model's, the measure the autoscaler
// grows by: Llama-2-7b serves about 0.56 as much on an A100 as on an H100, so at $2 and $3 an
// hour the A100 costs more per unit (3.6 against 3.0) and its replica is drained first, though
// its GPU is cheaper. (By price alone the H100's would go, and the next scale-up would place one
// there again.)
TEST(FleetScaleDown, WithoutHintsWeighsCapacityByThePerfModel) {
  PlacementSpec placement;
  placement.gpu_prices = {{"A100-80GB", 2.0}, {"H100-80GB", 3.0}};
  ManualClock clock;
  auto f = Fleet::create(placement, FleetOptions{}, clock.now());
  ASSERT_TRUE(f.ok()) << f.error().message;
  FakeAgent a{"node-1", 1};
  FakeAgent h{"node-2", 1, "H100-80GB"};
  h.agent_id = "agent-2";
  ASSERT_TRUE(f->apply(deployment("web", 1), "", clock.now()).ok());
  ASSERT_TRUE(f->scale("web", 2, clock.now()).ok());
  for (int i = 0; i < 3; ++i) {
    a.exchange(*f, clock.now());
    h.exchange(*f, clock.now());
    f->tick(clock.now());
    clock.advance(1s);
  }
  ASSERT_EQ(a.running.size() + h.running.size(), 2u);
  ASSERT_TRUE(f->scale("web", 1, clock.now()).ok());
  int draining = 0;
  for (const auto& [id, r] : f->replicas()) {
    if (r.state == ReplicaState::kDraining) {
      ++draining;
      EXPECT_EQ(r.gpu_model, "A100-80GB");
    }
  }
  EXPECT_EQ(draining, 1);
}

// A replica still waiting for a GPU has no GPU model: it leaves first, and the perf model still
// weighs the Ready ones.
TEST(FleetScaleDown, APendingReplicaDoesNotHideThePerfModel) {
  PlacementSpec placement;
  placement.gpu_prices = {{"A100-80GB", 2.0}, {"H100-80GB", 3.0}};
  ManualClock clock;
  auto f = Fleet::create(placement, FleetOptions{}, clock.now());
  ASSERT_TRUE(f.ok()) << f.error().message;
  FakeAgent a{"node-1", 1};
  FakeAgent h{"node-2", 1, "H100-80GB"};
  h.agent_id = "agent-2";
  ASSERT_TRUE(f->apply(deployment("web", 1), "", clock.now()).ok());
  ASSERT_TRUE(f->scale("web", 3, clock.now()).ok());  // two GPUs: the third waits
  for (int i = 0; i < 3; ++i) {
    a.exchange(*f, clock.now());
    h.exchange(*f, clock.now());
    f->tick(clock.now());
    clock.advance(1s);
  }
  ASSERT_EQ(a.running.size() + h.running.size(), 2u);
  ASSERT_TRUE(f->scale("web", 1, clock.now()).ok());
  int ready = 0;
  for (const auto& [id, r] : f->replicas()) {
    if (r.state == ReplicaState::kReady) {
      ++ready;
      EXPECT_EQ(r.gpu_model, "H100-80GB");
    }
  }
  EXPECT_EQ(ready, 1);
}

// A replica on a slower GPU model serves less: the routing table carries each replica's speed
// next to the deployment's fastest (the perf model's reference capacity), for least-work.
TEST(FleetRouting, TheTableSaysHowFastEachReplicaServes) {
  ManualClock clock;
  auto f = Fleet::create(PlacementSpec{}, FleetOptions{}, clock.now());
  ASSERT_TRUE(f.ok()) << f.error().message;
  FakeAgent a{"node-1", 1};
  FakeAgent h{"node-2", 1, "H100-80GB"};
  h.agent_id = "agent-2";
  ASSERT_TRUE(f->apply(deployment("web", 2), "", clock.now()).ok());
  for (int i = 0; i < 3; ++i) {
    a.exchange(*f, clock.now());
    h.exchange(*f, clock.now());
    f->tick(clock.now());
    clock.advance(1s);
  }
  const RoutingTable& t = f->routing_table();
  ASSERT_EQ(t.models.size(), 1u);
  ASSERT_EQ(t.models[0].revisions.size(), 1u);
  const std::vector<RouteReplica>& reps = t.models[0].revisions[0].replicas;
  ASSERT_EQ(reps.size(), 2u);
  const std::vector<std::string> gpus = {"A100-80GB", "H100-80GB"};
  const auto speeds = relative_speeds(deployment("web", 2), gpus);
  ASSERT_EQ(speeds.size(), 2u);
  EXPECT_EQ(speeds.at("H100-80GB"), 1.0);
  EXPECT_GT(speeds.at("A100-80GB"), 0.2);
  EXPECT_LT(speeds.at("A100-80GB"), 1.0);
  for (const RouteReplica& r : reps) {
    const std::string& gpu = f->replicas().at(r.id).gpu_model;
    EXPECT_DOUBLE_EQ(r.speed, speeds.at(gpu)) << gpu;
  }
}

TEST_F(FleetTest, ReplicasOnOneGpuModelAreEquallyFast) {
  FakeAgent a{"node-1", 2};
  ASSERT_TRUE(fleet->apply(deployment("web", 2), "", clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round({&a});
  const RoutingTable& t = fleet->routing_table();
  ASSERT_EQ(t.models.size(), 1u);
  ASSERT_EQ(t.models[0].revisions.size(), 1u);
  ASSERT_EQ(t.models[0].revisions[0].replicas.size(), 2u);
  for (const RouteReplica& r : t.models[0].revisions[0].replicas)
    EXPECT_EQ(r.speed, 1.0);
}

// #14: among equally cost-efficient replicas the most fragmenting goes first: the lone replica
// on a node otherwise idle, so the node frees whole (a 4-GPU replica could then fit there).
TEST_F(FleetTest, ScaleDownDrainsTheMostFragmentingReplicaFirst) {
  FakeAgent a{"node-1", 3};
  ASSERT_TRUE(fleet->apply(deployment("web", 1, 4), "", clock.now()).ok());
  ASSERT_TRUE(fleet->scale("web", 3, clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round({&a});
  ASSERT_EQ(a.running.size(), 3u);  // node-1 is full
  FakeAgent b{"node-2", 4};
  b.agent_id = "agent-2";
  ASSERT_TRUE(fleet->scale("web", 4, clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round({&a, &b});
  ASSERT_EQ(b.running.size(), 1u);
  const std::string lone = b.running.begin()->first;
  ASSERT_TRUE(fleet->scale("web", 3, clock.now()).ok());
  EXPECT_EQ(fleet->replicas().at(lone).state, ReplicaState::kDraining);
  EXPECT_EQ(count("web", ReplicaState::kReady), 3);
}

TEST_F(FleetTest, ScaleDownDrainsTheLeastLoadedOfEqualReplicas) {
  FakeAgent a{"node-1", 2};
  ASSERT_TRUE(fleet->apply(deployment("web", 1), "", clock.now()).ok());
  ASSERT_TRUE(fleet->scale("web", 2, clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round({&a});
  ASSERT_EQ(a.running.size(), 2u);
  // The first replica's engine is busy, the second's idle: the idle one goes (shortest drain).
  const std::string busy = a.running.begin()->first;
  const std::string idle = std::next(a.running.begin())->first;
  a.loads[busy] = ReplicaLoad{.running = 5, .waiting = 2, .kv_cache_usage = 0.5};
  a.loads[idle] = ReplicaLoad{.running = 0, .waiting = 0, .kv_cache_usage = 0.0};
  round({&a});
  ASSERT_TRUE(fleet->scale("web", 1, clock.now()).ok());
  EXPECT_EQ(fleet->replicas().at(idle).state, ReplicaState::kDraining);
  EXPECT_EQ(fleet->replicas().at(busy).state, ReplicaState::kReady);
}

TEST_F(FleetTest, ScalingStaysInRangeAndDrainsBeforeFreeingGpus) {
  auto d = deployment("llama", 1, 3);
  ASSERT_TRUE(fleet->apply(d, "m", clock.now()).ok());
  ASSERT_TRUE(fleet->scale("llama", 2, clock.now()).ok());
  FakeAgent a{"node-1"};
  round({&a});
  round({&a});
  auto s = fleet->scale("llama", 4, clock.now());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("1..3"), std::string::npos) << s.error().message;
  EXPECT_EQ(fleet->scale("nope", 1, clock.now()).error().code, ErrorCode::kNotFound);

  ASSERT_TRUE(fleet->scale("llama", 3, clock.now()).ok());
  round({&a});
  round({&a});
  EXPECT_EQ(count("llama", ReplicaState::kReady), 3);

  ASSERT_TRUE(fleet->scale("llama", 1, clock.now()).ok());
  EXPECT_EQ(count("llama", ReplicaState::kDraining), 2);
  EXPECT_EQ(fleet->pool().allocations().size(), 3u);  // still held until the agent lets go
  round({&a});                                        // the agent is told to stop them
  round({&a});                                        // and no longer reports them
  EXPECT_EQ(fleet->replicas().size(), 1u);
  EXPECT_EQ(fleet->pool().allocations().size(), 1u);
}

TEST_F(FleetTest, ADrainingReplicaLeavesRoutingAtOnceButStaysWithItsAgentUntilStopped) {
  ASSERT_TRUE(fleet->apply(deployment("llama", 1, 2), "m", clock.now()).ok());
  ASSERT_TRUE(fleet->scale("llama", 2, clock.now()).ok());
  FakeAgent a{"node-1"};
  a.busy_engines = true;
  for (int i = 0; i < 3; ++i)
    round({&a});
  ASSERT_EQ(count("llama", ReplicaState::kReady), 2);
  const uint64_t version = fleet->routing_table().version;

  ASSERT_TRUE(fleet->scale("llama", 1, clock.now()).ok());
  ASSERT_EQ(count("llama", ReplicaState::kDraining), 1);
  std::string drained;
  for (const auto& [id, r] : fleet->replicas()) {
    if (r.state == ReplicaState::kDraining) drained = id;
  }
  // Out of the routing table at once: gateways send it nothing new.
  EXPECT_GT(fleet->routing_table().version, version);
  ASSERT_EQ(fleet->routing_table().models[0].revisions[0].replicas.size(), 1u);
  EXPECT_NE(fleet->routing_table().models[0].revisions[0].replicas[0].id, drained);

  // Still in its agent's set, flagged, with the drain time left, while the engine works.
  clock.advance(5s);
  NodeAssignment reply = a.exchange(*fleet, clock.now());
  ASSERT_EQ(reply.replicas.size(), 2u);
  const ReplicaAssignment* d = nullptr;
  for (const auto& r : reply.replicas) {
    if (r.id == drained) d = &r;
    if (r.id != drained) {
      EXPECT_FALSE(r.draining);
    }
  }
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->draining);
  EXPECT_EQ(d->drain_timeout, FleetOptions{}.drain_timeout - 5s);
  EXPECT_EQ(fleet->pool().allocations().size(), 2u);  // its GPU stays held

  // The agent stops it once idle: it is no longer reported, and its GPU is free.
  a.busy_engines = false;
  a.exchange(*fleet, clock.now());  // the fake agent drops it
  a.exchange(*fleet, clock.now());  // and reports without it
  EXPECT_EQ(fleet->replicas().count(drained), 0u);
  EXPECT_EQ(fleet->pool().allocations().size(), 1u);
}

TEST_F(FleetTest, ADrainThatOutlastsItsTimeoutLeavesTheAgentsSet) {
  ASSERT_TRUE(fleet->apply(deployment("llama", 1, 2), "m", clock.now()).ok());
  FakeAgent a{"node-1"};
  a.busy_engines = true;  // an engine that never gets idle, or an agent that ignores the flag
  for (int i = 0; i < 3; ++i)
    round({&a});
  ASSERT_TRUE(fleet->remove_deployment("llama", clock.now()).ok());
  // The deployment is gone; the draining replica is still named, so the agent can finish it.
  NodeAssignment reply = a.exchange(*fleet, clock.now());
  ASSERT_EQ(reply.replicas.size(), 1u);
  EXPECT_TRUE(reply.replicas[0].draining);
  clock.advance(FleetOptions{}.drain_timeout);
  reply = a.exchange(*fleet, clock.now());
  EXPECT_TRUE(reply.replicas.empty());  // now the agent stops it at once
  a.exchange(*fleet, clock.now());
  EXPECT_TRUE(fleet->replicas().empty());
  EXPECT_TRUE(fleet->pool().allocations().empty());
}

TEST_F(FleetTest, RollingUpdateNeverDropsBelowTheTargetOfReadyReplicas) {
  auto d = deployment("llama", 3);
  d.replicas.min = 3;
  ASSERT_TRUE(fleet->apply(d, "v1", clock.now()).ok());
  FakeAgent a{"node-1", 8};
  for (int i = 0; i < 3; ++i)
    round({&a});
  ASSERT_EQ(count("llama", ReplicaState::kReady), 3);
  std::string old_rev = fleet->deployments().at("llama").revision;

  d.engine.args = {"--max-num-seqs", "64"};
  ASSERT_TRUE(fleet->apply(d, "v2", clock.now()).ok());
  std::string new_rev = fleet->deployments().at("llama").revision;
  ASSERT_NE(old_rev, new_rev);
  for (int i = 0; i < 20; ++i) {
    round({&a});
    int ready = 0, total = 0;
    for (const auto& [id, r] : fleet->replicas()) {
      ready += r.state == ReplicaState::kReady;
      total += r.state != ReplicaState::kDraining;
    }
    EXPECT_GE(ready, 3) << "round " << i;
    EXPECT_LE(total, 4) << "round " << i << ": max surge is 1";
  }
  for (const auto& [id, r] : fleet->replicas())
    EXPECT_EQ(r.revision, new_rev);
  EXPECT_EQ(count("llama", ReplicaState::kReady), 3);
  EXPECT_NE(fleet->rollout_status("llama").find("rollout complete"), std::string::npos);

  auto prev = fleet->previous_manifest("llama");
  ASSERT_TRUE(prev.ok());
  EXPECT_EQ(*prev, "v1");
}

// Weights per revision in the routing table, by revision.
std::map<std::string, int> weights(const Fleet& f) {
  std::map<std::string, int> out;
  for (const auto& m : f.routing_table().models) {
    for (const auto& r : m.revisions)
      out[r.revision] = r.weight;
  }
  return out;
}

TEST_F(FleetTest, BlueGreenSwitchesAllTrafficAtOnceAndKeepsTheOldForUndo) {
  auto d = deployment("llama", 2);
  d.rollout.strategy = RolloutStrategy::kBlueGreen;
  ASSERT_TRUE(fleet->apply(d, "v1", clock.now()).ok());
  FakeAgent a{"node-1", 8};
  for (int i = 0; i < 3; ++i)
    round({&a});
  std::string blue = fleet->deployments().at("llama").revision;
  d.engine.args = {"--v2"};
  ASSERT_TRUE(fleet->apply(d, "v2", clock.now()).ok());
  std::string green = fleet->deployments().at("llama").revision;
  // The whole new revision comes up beside the old one, with no traffic until it is complete.
  EXPECT_EQ(count("llama", ReplicaState::kPlaced) + count("llama", ReplicaState::kPending), 2);
  round({&a});
  EXPECT_EQ(weights(*fleet)[blue], 2);
  EXPECT_EQ(weights(*fleet).count(green) ? weights(*fleet)[green] : 0, 0);
  for (int i = 0; i < 3; ++i)
    round({&a});
  EXPECT_EQ(weights(*fleet)[green], 2);
  EXPECT_EQ(weights(*fleet)[blue], 0);  // dark, still running
  EXPECT_EQ(count("llama", ReplicaState::kReady), 4);

  // Undo is instant: the old replicas are still there and take the traffic back.
  auto prev = fleet->previous_manifest("llama");
  ASSERT_TRUE(prev.ok());
  d.engine.args = {};
  ASSERT_TRUE(fleet->apply(d, *prev, clock.now()).ok());
  round({&a});
  EXPECT_EQ(weights(*fleet)[blue], 2);
  EXPECT_EQ(weights(*fleet)[green], 0);

  // Forward again, and after the retention time the old revision is drained.
  d.engine.args = {"--v2"};
  ASSERT_TRUE(fleet->apply(d, "v2", clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round({&a});
  clock.advance(std::chrono::minutes(11));
  for (int i = 0; i < 3; ++i)
    round({&a});
  for (const auto& [id, r] : fleet->replicas())
    EXPECT_EQ(r.revision, green) << id;
  EXPECT_EQ(count("llama", ReplicaState::kReady), 2);
}

TEST_F(FleetTest, CanaryStepsTrafficByWeightThenCompletes) {
  auto d = deployment("llama", 4);
  d.rollout.strategy = RolloutStrategy::kCanary;
  d.rollout.steps = {CanaryStep{10, std::chrono::seconds(30)},
                     CanaryStep{50, std::chrono::seconds(30)}};
  ASSERT_TRUE(fleet->apply(d, "v1", clock.now()).ok());
  FakeAgent a{"node-1", 8};
  for (int i = 0; i < 3; ++i)
    round({&a});
  std::string stable = fleet->deployments().at("llama").revision;
  d.engine.args = {"--v2"};
  ASSERT_TRUE(fleet->apply(d, "v2", clock.now()).ok());
  std::string canary = fleet->deployments().at("llama").revision;
  for (int i = 0; i < 3; ++i)
    round({&a});
  // Step 1: one canary replica (10% of 4, rounded up) takes 10% of the traffic.
  EXPECT_EQ(weights(*fleet)[canary], 10);
  EXPECT_EQ(weights(*fleet)[stable], 90);
  int canaries = 0;
  for (const auto& [id, r] : fleet->replicas())
    canaries += r.revision == canary;
  EXPECT_EQ(canaries, 1);
  // The pause holds the step.
  for (int i = 0; i < 10; ++i)
    round({&a});
  EXPECT_EQ(weights(*fleet)[canary], 10);
  for (int i = 0; i < 25; ++i)
    round({&a});
  EXPECT_EQ(weights(*fleet)[canary], 50);
  EXPECT_EQ(weights(*fleet)[stable], 50);
  for (int i = 0; i < 40; ++i)
    round({&a});
  for (const auto& [id, r] : fleet->replicas())
    EXPECT_EQ(r.revision, canary) << id;
  EXPECT_EQ(count("llama", ReplicaState::kReady), 4);
  EXPECT_TRUE(fleet->rollout_progress("llama").complete());
  EXPECT_EQ(weights(*fleet)[canary], 4);  // steady state: weight by ready replicas again
}

// #17, item 11: the pause of a canary step counts from when its replicas are Ready, so a slow
// cold start does not eat the canary's observation time.
TEST_F(FleetTest, ACanaryStepsPauseCountsFromItsReplicasBeingReady) {
  auto d = deployment("llama", 4);
  d.rollout.strategy = RolloutStrategy::kCanary;
  d.rollout.steps = {CanaryStep{10, std::chrono::seconds(15)}};
  ASSERT_TRUE(fleet->apply(d, "v1", clock.now()).ok());
  FakeAgent a{"node-1", 8};
  for (int i = 0; i < 3; ++i)
    round({&a});
  const std::string stable = fleet->deployments().at("llama").revision;
  for (auto& [id, beats] : a.beats_seen)
    beats = 1000;           // the stable replicas are long up
  a.cold_start_beats = 10;  // the canary's engine takes about 10 s to load
  d.engine.args = {"--v2"};
  ASSERT_TRUE(fleet->apply(d, "v2", clock.now()).ok());
  const std::string canary = fleet->deployments().at("llama").revision;
  const TimePoint applied = clock.now();
  std::optional<TimePoint> ready, stepped;
  while (clock.now() - applied < std::chrono::seconds(60) && !stepped) {
    round({&a});
    if (!ready && weights(*fleet)[canary] > 0) ready = clock.now();
    const auto& dep = fleet->deployments().at("llama");
    if (dep.canary_step > 0 || dep.stable_revision.empty()) stepped = clock.now();
  }
  ASSERT_TRUE(ready.has_value());
  ASSERT_TRUE(stepped.has_value());
  EXPECT_GE(*ready - applied, std::chrono::seconds(10));
  // The canary had its whole 15 s of traffic (it ended at 15 s after apply before).
  EXPECT_GE(*stepped - *ready, std::chrono::seconds(15));
  EXPECT_LE(*stepped - *ready, std::chrono::seconds(17));
}

TrafficReport traffic(const std::string& model, const std::string& rev, int64_t requests,
                      int64_t errors, int64_t ttft_ms) {
  RevisionTraffic t;
  t.model = model;
  t.revision = rev;
  t.requests = requests;
  t.errors = errors;
  t.ttft_counts.assign(kTtftBoundsMs.size() + 1, 0);
  t.ttft_counts[ttft_bucket(ttft_ms)] = static_cast<uint64_t>(requests);
  return TrafficReport{"gw-1", {t}, {}};
}

TEST_F(FleetTest, ACanaryWorseThanStableIsRolledBackAutomatically) {
  auto d = deployment("llama", 4);
  d.rollout.strategy = RolloutStrategy::kCanary;
  d.rollout.steps = {CanaryStep{25, std::chrono::minutes(5)}};
  ASSERT_TRUE(fleet->apply(d, "v1", clock.now()).ok());
  FakeAgent a{"node-1", 8};
  for (int i = 0; i < 3; ++i)
    round({&a});
  std::string stable = fleet->deployments().at("llama").revision;
  d.engine.args = {"--bad"};
  ASSERT_TRUE(fleet->apply(d, "v2", clock.now()).ok());
  std::string canary = fleet->deployments().at("llama").revision;
  for (int i = 0; i < 3; ++i)
    round({&a});
  ASSERT_EQ(weights(*fleet)[canary], 25);

  // Too few requests to judge: nothing happens.
  fleet->record_traffic(traffic(d.model, canary, 4, 4, 100), clock.now());
  fleet->record_traffic(traffic(d.model, stable, 5, 0, 100), clock.now());
  round({&a});
  EXPECT_EQ(fleet->deployments().at("llama").revision, canary);
  // Enough to judge: 7 errors in 25 (28%) against 0% is past the 5-point margin.
  fleet->record_traffic(traffic(d.model, canary, 21, 3, 100), clock.now());
  fleet->record_traffic(traffic(d.model, stable, 60, 0, 100), clock.now());
  round({&a});
  EXPECT_EQ(fleet->deployments().at("llama").revision, stable);
  bool logged = false;
  for (const auto& e : fleet->events())
    logged = logged ||
             (e.kind == "RolloutRolledBack" && e.reason.find("error rate") != std::string::npos);
  EXPECT_TRUE(logged);
  EXPECT_EQ(weights(*fleet)[stable], 4);
  EXPECT_EQ(weights(*fleet).count(canary) ? weights(*fleet)[canary] : 0, 0);
  for (int i = 0; i < 3; ++i)
    round({&a});
  for (const auto& [id, r] : fleet->replicas())
    EXPECT_EQ(r.revision, stable) << id;
  EXPECT_EQ(count("llama", ReplicaState::kReady), 4);
}

TEST_F(FleetTest, ACanaryWithSlowerTtftIsRolledBackAndAHealthyOneIsNot) {
  auto d = deployment("llama", 2);
  d.rollout.strategy = RolloutStrategy::kCanary;
  d.rollout.steps = {CanaryStep{50, std::chrono::minutes(5)}};
  ASSERT_TRUE(fleet->apply(d, "v1", clock.now()).ok());
  FakeAgent a{"node-1", 8};
  for (int i = 0; i < 3; ++i)
    round({&a});
  std::string stable = fleet->deployments().at("llama").revision;
  d.engine.args = {"--v2"};
  ASSERT_TRUE(fleet->apply(d, "v2", clock.now()).ok());
  std::string good = fleet->deployments().at("llama").revision;
  for (int i = 0; i < 3; ++i)
    round({&a});
  // One unlucky error (10% of 10, against 0%) is not enough to blame a canary.
  fleet->record_traffic(traffic(d.model, good, 10, 1, 100), clock.now());
  fleet->record_traffic(traffic(d.model, stable, 50, 0, 100), clock.now());
  round({&a});
  EXPECT_EQ(fleet->deployments().at("llama").revision, good);
  fleet->record_traffic(traffic(d.model, good, 40, 0, 100), clock.now());
  round({&a});
  EXPECT_EQ(fleet->deployments().at("llama").revision, good);  // as good as stable: kept

  d.engine.args = {"--v3"};
  // A newer canary while `good` is still in its pause: it is judged against the revision that
  // served in full before (stable), and a rollback returns there.
  ASSERT_TRUE(fleet->apply(d, "v3", clock.now()).ok());
  std::string slow = fleet->deployments().at("llama").revision;
  for (int i = 0; i < 3; ++i)
    round({&a});
  fleet->record_traffic(traffic(d.model, slow, 50, 0, 1000), clock.now());
  fleet->record_traffic(traffic(d.model, stable, 50, 0, 100), clock.now());
  round({&a});
  EXPECT_EQ(fleet->deployments().at("llama").revision, stable);
}

TEST_F(FleetTest, UndoWithoutHistorySaysSo) {
  ASSERT_TRUE(fleet->apply(deployment("llama", 1), "v1", clock.now()).ok());
  auto prev = fleet->previous_manifest("llama");
  ASSERT_FALSE(prev.ok());
  EXPECT_EQ(prev.error().code, ErrorCode::kFailedPrecondition);
}

TEST_F(FleetTest, DrainingANodeMovesItsReplicas) {
  ASSERT_TRUE(fleet->apply(deployment("llama", 2), "m", clock.now()).ok());
  FakeAgent a{"node-1", 2};
  round({&a});
  FakeAgent b{"node-2", 2};
  round({&a, &b});
  round({&a, &b});
  ASSERT_TRUE(fleet->set_node_admin("node-1", AdminState::kDraining, clock.now()).ok());
  for (int i = 0; i < 4; ++i)
    round({&a, &b});
  EXPECT_EQ(count("llama", ReplicaState::kReady), 2);
  for (const auto& [id, r] : fleet->replicas())
    EXPECT_EQ(r.node, "node-2");
  EXPECT_FALSE(fleet->set_node_admin("node-9", AdminState::kCordoned, clock.now()).ok());
}

TEST_F(FleetTest, ARestartedControllerRebuildsFromTheStoreWithoutStartingAnythingTwice) {
  auto dir = std::filesystem::temp_directory_path() / ("fleet-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string path = (dir / "state.db").string();
  std::set<std::string> ids;
  int64_t generation = 0;
  FakeAgent a{"node-1"};
  {
    auto store = SqliteStore::open(path, SqliteStoreOptions{&clock, SqliteSync::kNormal});
    ASSERT_TRUE(store.ok()) << store.error().message;
    ASSERT_TRUE(fleet
                    ->apply(deployment("llama", 3),
                            std::string("apiVersion: gpufleet/v1\n") +
                                "kind: Deployment\n"
                                "metadata: {name: llama}\n"
                                "spec:\n"
                                "  model: meta-llama/Llama-2-7b-hf\n"
                                "  engine: {type: engine-sim}\n"
                                "  replicas: {min: 3, max: 8}\n",
                            clock.now())
                    .ok());
    for (int i = 0; i < 3; ++i)
      round({&a});
    FleetChanges c = fleet->take_changes();
    ASSERT_TRUE(persist_changes(**store, *fleet, c).ok());
    for (const auto& [id, r] : fleet->replicas())
      ids.insert(id);
    generation = fleet->generation();
    ASSERT_EQ(ids.size(), 3u);
  }
  // A new controller process: same store, same running agent.
  auto f2 = Fleet::create(PlacementSpec{}, FleetOptions{}, clock.now());
  ASSERT_TRUE(f2.ok());
  auto store = SqliteStore::open(path, SqliteStoreOptions{&clock, SqliteSync::kNormal});
  ASSERT_TRUE(store.ok()) << store.error().message;
  std::vector<std::string> problems;
  ASSERT_TRUE(restore_fleet(**store, *f2, clock.now(), problems).ok());
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(f2->nodes().at("node-1").state, NodeState::kUnknown);
  f2->tick(clock.now());  // before the agent reports: nothing new may be created
  EXPECT_EQ(f2->replicas().size(), 3u);
  auto reply = a.exchange(*f2, clock.now());
  f2->tick(clock.now());
  std::set<std::string> after;
  for (const auto& r : reply.replicas)
    after.insert(r.id);
  EXPECT_EQ(after, ids);  // the same replicas, not new ones
  EXPECT_EQ(f2->pool().allocations().size(), 3u);
  EXPECT_GE(f2->generation(), generation);
  // New ids never reuse old ones.
  ASSERT_TRUE(f2->scale("llama", 4, clock.now()).ok());
  for (const auto& [id, r] : f2->replicas()) {
    if (!ids.count(id)) {
      EXPECT_EQ(r.state, ReplicaState::kPlaced);
    }
  }
  EXPECT_EQ(f2->replicas().size(), 4u);
  std::filesystem::remove_all(dir);
}

// Random operations; after each step no GPU is over-committed, every placed replica holds an
// allocation on its own node, and no whole GPU carries two replicas.
TEST(FleetProperty, RandomOperationsKeepAllocationsConsistent) {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    ManualClock clock;
    auto f = Fleet::create(PlacementSpec{}, FleetOptions{}, clock.now());
    ASSERT_TRUE(f.ok());
    std::mt19937_64 rng(seed);
    std::vector<FakeAgent> agents = {{"node-1", 4}, {"node-2", 4}, {"node-3", 2}};
    std::vector<bool> silent(agents.size(), false);
    for (int step = 0; step < 120; ++step) {
      switch (rng() % 6) {
        case 0:
          (void)f->apply(
              deployment("d" + std::to_string(rng() % 3), 1 + static_cast<int>(rng() % 3)), "m",
              clock.now());
          break;
        case 1:
          (void)f->scale("d" + std::to_string(rng() % 3), 1 + static_cast<int>(rng() % 4),
                         clock.now());
          break;
        case 2:
          silent[rng() % silent.size()] = rng() % 4 == 0;
          break;
        case 3:
          (void)f->remove_deployment("d" + std::to_string(rng() % 3), clock.now());
          break;
        default:
          break;
      }
      for (size_t i = 0; i < agents.size(); ++i) {
        if (!silent[i]) agents[i].exchange(*f, clock.now());
      }
      f->tick(clock.now());
      clock.advance(std::chrono::milliseconds(500 + rng() % 2000));

      std::map<std::string, int> holders;
      for (const auto& [id, r] : f->replicas()) {
        if (r.state == ReplicaState::kPending) continue;
        if (r.state == ReplicaState::kFailed || r.state == ReplicaState::kStopped) continue;
        if (r.allocation.valid()) {
          const Allocation* al = f->pool().allocation(r.allocation);
          ASSERT_NE(al, nullptr) << "seed " << seed << " step " << step << " " << id;
          EXPECT_EQ(f->pool().node(al->node).name, r.node);
        }
        for (const auto& g : r.gpus)
          ++holders[g];
      }
      for (const auto& [gpu, n] : holders) {
        EXPECT_LE(n, 1) << "seed " << seed << " step " << step << ": " << gpu << " held " << n
                        << " times";
      }
      for (size_t g = 0; g < f->pool().gpu_count(); ++g) {
        const Gpu& gpu = f->pool().gpu(GpuIndex{static_cast<uint32_t>(g)});
        EXPECT_LE(gpu.memory_committed.value, gpu.memory_total.value);
      }
    }
  }
}

}  // namespace
}  // namespace gf

// ---- next_deadline(): what a discrete-event loop jumps to

namespace gf {
namespace {

TEST_F(FleetTest, NextDeadlineIsWhenANodeLeaseRunsOutAndTickThenFindsItLost) {
  ASSERT_TRUE(fleet->apply(deployment("llama", 1), "m", clock.now()).ok());
  FakeAgent a{"node-1"};
  a.exchange(*fleet, clock.now());
  const TimePoint seen = clock.now();
  // The heartbeat left work (a placement to make): due at once.
  ASSERT_TRUE(fleet->next_deadline().has_value());
  EXPECT_LE(*fleet->next_deadline(), clock.now());
  fleet->tick(clock.now());
  // Nothing left but the lease.
  ASSERT_TRUE(fleet->next_deadline().has_value());
  const TimePoint lease_end = *fleet->next_deadline();
  EXPECT_GT(lease_end, seen + FleetOptions{}.node_lease - 1ms);
  EXPECT_LE(lease_end, seen + FleetOptions{}.node_lease + 1ms);

  fleet->tick(lease_end - 1ms);
  EXPECT_EQ(fleet->nodes().at("node-1").state, NodeState::kReady);
  fleet->tick(lease_end);
  EXPECT_EQ(fleet->nodes().at("node-1").state, NodeState::kLost);
  // A lost node holds no deadline of its own.
  EXPECT_FALSE(fleet->next_deadline().has_value());
}

TEST_F(FleetTest, ATrafficReportDuringACanaryMakesTickDue) {
  auto d = deployment("llama", 2);
  d.rollout.strategy = RolloutStrategy::kCanary;
  d.rollout.steps = {CanaryStep{50, std::chrono::minutes(5)}};
  ASSERT_TRUE(fleet->apply(d, "v1", clock.now()).ok());
  FakeAgent a{"node-1", 8};
  for (int i = 0; i < 3; ++i)
    round({&a});
  d.engine.args = {"--new"};
  ASSERT_TRUE(fleet->apply(d, "v2", clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round({&a});
  const auto& rec = fleet->deployments().at("llama");
  // The step's pause is a deadline of its own.
  ASSERT_TRUE(fleet->next_deadline().has_value());
  EXPECT_LE(*fleet->next_deadline(), rec.step_started + std::chrono::minutes(5));
  TrafficReport r;
  r.revisions.push_back(RevisionTraffic{d.model, rec.revision, 1, 0, {}});
  fleet->record_traffic(r, clock.now());
  ASSERT_TRUE(fleet->next_deadline().has_value());
  EXPECT_LE(*fleet->next_deadline(), clock.now());
}

TEST(RolloutStrategy, DeadlinesAreTheCanaryPauseAndTheBlueGreenRetention) {
  DeploymentRecord d;
  d.replicas = 4;
  const TimePoint t0 = TimePoint(std::chrono::hours(1));
  EXPECT_FALSE(rollout_deadline(d, std::chrono::minutes(10)).has_value());  // no rollout
  d.stable_revision = "old";
  d.revision = "new";
  d.spec.rollout.strategy = RolloutStrategy::kCanary;
  d.spec.rollout.steps = {CanaryStep{25, std::chrono::seconds(30)}};
  d.step_started = t0;
  // Until the step's replicas are Ready there is no deadline: their Ready report starts it.
  EXPECT_FALSE(rollout_deadline(d, std::chrono::minutes(10)).has_value());
  d.step_ready = t0 + std::chrono::seconds(12);
  EXPECT_EQ(rollout_deadline(d, std::chrono::minutes(10)), t0 + std::chrono::seconds(42));
  EXPECT_EQ(wanted_current(d), 1);
  EXPECT_EQ(revision_weight(d, "new", 1), 25);
  EXPECT_EQ(revision_weight(d, "old", 4), 75);
  d.canary_step = 1;  // past the last step
  EXPECT_FALSE(rollout_deadline(d, std::chrono::minutes(10)).has_value());
  EXPECT_EQ(wanted_current(d), 4);
  d.spec.rollout.strategy = RolloutStrategy::kBlueGreen;
  EXPECT_FALSE(rollout_deadline(d, std::chrono::minutes(10)).has_value());  // not switched yet
  EXPECT_EQ(revision_weight(d, "new", 4), 0);
  d.switched_at = t0;
  EXPECT_EQ(rollout_deadline(d, std::chrono::minutes(10)), t0 + std::chrono::minutes(10));
  EXPECT_EQ(revision_weight(d, "new", 4), 4);
}

TEST(CanaryJudge, NeedsEnoughRequestsAndErrorsThenNamesTheCause) {
  CanaryThresholds t;
  RevisionStats stable{100, 0, {}};
  EXPECT_EQ(canary_verdict("c1", RevisionStats{4, 4, {}}, stable, t), "");    // too few requests
  EXPECT_EQ(canary_verdict("c1", RevisionStats{100, 2, {}}, stable, t), "");  // too few errors
  std::string v = canary_verdict("c1", RevisionStats{100, 10, {}}, stable, t);
  EXPECT_NE(v.find("canary c1 error rate 10.0%"), std::string::npos) << v;
  // TTFT: 95% of the canary's requests in the 1 s bucket against the stable's 100 ms.
  RevisionStats slow{100, 0, std::vector<uint64_t>(kTtftBoundsMs.size() + 1, 0)};
  RevisionStats fast = slow;
  slow.ttft_counts[ttft_bucket(1000)] = 100;
  fast.ttft_counts[ttft_bucket(100)] = 100;
  v = canary_verdict("c1", slow, fast, t);
  EXPECT_NE(v.find("TTFT p95 1000 ms vs stable 100 ms"), std::string::npos) << v;
  accumulate(fast, RevisionTraffic{"m", "c1", 5, 1, {1, 2}});
  EXPECT_EQ(fast.requests, 105);
  EXPECT_EQ(fast.errors, 1);
  EXPECT_EQ(fast.ttft_counts[0], 1u);
}

}  // namespace
}  // namespace gf
