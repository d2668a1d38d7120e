#include "placement/scheduler.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "common/clock.h"
#include "placement/gpu_picker.h"
#include "test_cluster.h"

namespace gf {
namespace {

using testing::all;
using testing::node;
using testing::share;
using testing::whole;

Scheduler make(PlacementSpec spec = {}) {
  auto s = Scheduler::create(spec);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return std::move(*s);
}

Pool make_pool(std::vector<NodeSpec> nodes, PoolOptions opts = {}) {
  ClusterSpec c;
  c.nodes = std::move(nodes);
  auto p = Pool::from_spec(c, ManualClock().now(), opts);
  EXPECT_TRUE(p.ok());
  return std::move(*p);
}

std::vector<int> locals(const Pool& pool, const Candidate& c) {
  std::vector<int> v;
  for (GpuIndex g : c.gpus(pool))
    v.push_back(pool.gpu(g).local_index);
  return v;
}

TEST(GpuPicker, TensorParallelTakesTheBestFittingNvlinkGroup) {
  Node n;
  n.nvlink_groups = {0b00001111, 0b11110000};
  // Group 0 has 2 usable (0,1), group 1 has 4: a 2-GPU request takes group 0 and keeps group 1
  // whole.
  GpuPick p = pick_gpus(n, 0b11110011, 2, TopologyPolicy::kNvlinkRequired);
  EXPECT_EQ(p.mask, 0b00000011u);
  // 3 GPUs only fit in group 1.
  EXPECT_EQ(pick_gpus(n, 0b11110011, 3, TopologyPolicy::kNvlinkRequired).mask, 0b01110000u);
  // 4 across groups: required fails with a reason, preferred falls back.
  GpuPick req = pick_gpus(n, 0b00110011, 4, TopologyPolicy::kNvlinkRequired);
  EXPECT_EQ(req.mask, 0u);
  EXPECT_STREQ(req.reason, "no NVLink group with enough usable GPUs");
  EXPECT_EQ(std::popcount(pick_gpus(n, 0b00110011, 4, TopologyPolicy::kNvlinkPreferred).mask), 4);
}

TEST(GpuPicker, SingleGpusComeFromPcieFirstThenTheSmallestGroup) {
  Node n;
  n.nvlink_groups = {0b0011, 0b1100};
  EXPECT_EQ(pick_gpus(n, 0b10011, 1, TopologyPolicy::kNvlinkRequired).mask, 0b10000u);
  EXPECT_EQ(pick_gpus(n, 0b1101, 1, TopologyPolicy::kNvlinkRequired).mask, 0b0001u);
}

TEST(Scheduler, RejectsBadConfig) {
  PlacementSpec s;
  s.filters = {"health", "model", "memory"};
  EXPECT_NE(Scheduler::create(s).error().message.find("\"topology\" enforces a hard rule"),
            std::string::npos);
  s = {};
  s.score_weights = {{"gravity", 1}};
  EXPECT_NE(Scheduler::create(s).error().message.find("unknown placement score \"gravity\""),
            std::string::npos);
  s = {};
  s.score_weights = {{"binpack", -1}};
  EXPECT_FALSE(Scheduler::create(s).ok());
}

TEST(Scheduler, PrefersModelsInTheRequestedOrder) {
  Pool pool =
      make_pool({node("a", "A100-80GB", 2, 80, {all(2)}), node("h", "H100-80GB", 2, 80, {all(2)})});
  Scheduler s = make();
  Decision d = s.place(pool, whole(1, 0, {"H100-80GB", "A100-80GB"}));
  ASSERT_TRUE(d.placement);
  EXPECT_EQ(pool.node(d.placement->node).name, "h");
  d = s.place(pool, whole(1, 0, {"A100-80GB", "H100-80GB"}));
  EXPECT_EQ(pool.node(d.placement->node).name, "a");
}

// #16: a MIG device takes a single-GPU replica like any GPU, and never a share of a
// tensor-parallel one (CUDA gives a process one MIG device).
TEST(Scheduler, MigDevicesServeOnlySingleGpuReplicas) {
  NodeSpec n = node("m", "A100-80GB-MIG-3g.40gb", 2, 40);
  n.gpus[0].uuids = {"MIG-aaaa", "MIG-bbbb"};
  Pool pool = make_pool({n});
  Scheduler s = make();
  Decision one = s.place(pool, whole(1, 0, {"A100-80GB-MIG-3g.40gb"}));
  ASSERT_TRUE(one.placement) << one.reason;
  Decision two = s.place(pool, whole(2, 0, {"A100-80GB-MIG-3g.40gb"}));
  EXPECT_FALSE(two.placement);
  EXPECT_EQ(two.gpu_reasons.at("MIG device (a multi-GPU replica cannot span MIG devices)"), 2)
      << two.reason;
}

TEST(Scheduler, BinpackFillsPartlyUsedNodesAndSpreadDoesNot) {
  Pool pool =
      make_pool({node("a", "A100-80GB", 4, 80, {all(4)}), node("b", "A100-80GB", 4, 80, {all(4)})});
  ManualClock clock;
  ASSERT_TRUE(
      pool.commit(whole(1), NodeIndex{1}, {pool.node(NodeIndex{1}).gpus[0]}, clock.now()).ok());
  PlacementSpec bp;
  bp.score_weights = {{"binpack", 1}};
  EXPECT_EQ(make(bp).place(pool, whole(1)).placement->node, NodeIndex{1});
  PlacementSpec sp;
  sp.score_weights = {{"spread", 1}};
  EXPECT_EQ(make(sp).place(pool, whole(1)).placement->node, NodeIndex{0});
}

TEST(Scheduler, SharesPackOntoTheFullestGpuThatFits) {
  Pool pool = make_pool({node("a", "A100-80GB", 2, 80)});
  ManualClock clock;
  Scheduler s = make();
  auto first = s.schedule(pool, share(30), clock.now());
  auto second = s.schedule(pool, share(30), clock.now());
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(pool.allocation(*first)->gpus, pool.allocation(*second)->gpus);
  // 20GiB left there; a 30GiB share goes to the other GPU.
  auto third = s.schedule(pool, share(30), clock.now());
  ASSERT_TRUE(third.ok());
  EXPECT_NE(pool.allocation(*third)->gpus, pool.allocation(*first)->gpus);
}

TEST(Scheduler, ExplainsEveryRejectedGpu) {
  // 10 GPUs: 4 H100 (wrong model), 6 A100 of which 4 are faulty and 2 in use.
  Pool pool =
      make_pool({node("h", "H100-80GB", 4, 80, {all(4)}), node("a", "A100-80GB", 6, 80, {all(6)})});
  ManualClock clock;
  const Node& a = pool.node(NodeIndex{1});
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(pool.set_health(a.gpus[i], Health::kFaulty, "XID 79", clock.now()).ok());
  ASSERT_TRUE(pool.commit(whole(2), NodeIndex{1}, {a.gpus[4], a.gpus[5]}, clock.now()).ok());
  Decision d = make().place(pool, whole(1, 0, {"A100-80GB"}));
  ASSERT_FALSE(d.placed());
  EXPECT_EQ(d.reason, "0/10 GPUs fit: 4 Faulty, 4 wrong GPU model, 2 in use");
  EXPECT_EQ(d.code, ErrorCode::kUnschedulable);
  EXPECT_EQ(d.gpu_reasons.at("Faulty"), 4);
}

TEST(Scheduler, TellsInfeasibleFromUnschedulable) {
  Pool pool = make_pool({node("a", "A100-80GB", 4, 80, {all(4)})});
  Scheduler s = make();
  Decision d = s.place(pool, whole(8));
  EXPECT_EQ(d.code, ErrorCode::kInfeasible);
  EXPECT_NE(d.reason.find("0/4 GPUs fit (need 8 on one node)"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("nodes with usable GPUs: 1 too few usable GPUs on the node"),
            std::string::npos)
      << d.reason;
  EXPECT_EQ(s.place(pool, share(100)).code, ErrorCode::kInfeasible);
  EXPECT_EQ(s.place(pool, whole(1, 0, {"B200"})).code, ErrorCode::kInfeasible);
  ManualClock clock;
  ASSERT_TRUE(s.schedule(pool, whole(4), clock.now()).ok());
  Decision busy = s.place(pool, whole(2));
  EXPECT_EQ(busy.code, ErrorCode::kUnschedulable);
  EXPECT_EQ(s.place(pool, whole(0)).code, ErrorCode::kInvalidArgument);
}

TEST(Scheduler, ExplanationAndPreemptionCanBeSkipped) {
  Pool pool = make_pool({node("a", "A100-80GB", 2, 80, {all(2)})});
  ManualClock clock;
  ASSERT_TRUE(
      pool.commit(whole(2, 1), NodeIndex{0}, pool.node(NodeIndex{0}).gpus, clock.now()).ok());
  Scheduler s = make();
  Decision quick = s.place(pool, whole(2, 5), PlaceOptions{false, false});
  EXPECT_EQ(quick.code, ErrorCode::kUnschedulable);
  EXPECT_TRUE(quick.gpu_reasons.empty());
  EXPECT_FALSE(quick.preemption);
  EXPECT_EQ(s.place(pool, whole(4), PlaceOptions{false, false}).code, ErrorCode::kInfeasible);
  Decision full = s.place(pool, whole(2, 5));
  EXPECT_EQ(full.gpu_reasons.at("in use"), 2);
  EXPECT_TRUE(full.preemption);
}

TEST(Scheduler, WarmNodesWinTies) {
  Pool pool =
      make_pool({node("a", "A100-80GB", 4, 80, {all(4)}), node("b", "A100-80GB", 4, 80, {all(4)})});
  ManualClock clock;
  auto other = whole(1);
  other.model = "other";
  auto warm = whole(1);
  warm.model = "llama";
  // Both nodes equally full; only b already serves llama.
  ASSERT_TRUE(
      pool.commit(other, NodeIndex{0}, {pool.node(NodeIndex{0}).gpus[0]}, clock.now()).ok());
  ASSERT_TRUE(pool.commit(warm, NodeIndex{1}, {pool.node(NodeIndex{1}).gpus[0]}, clock.now()).ok());
  PlacementSpec no_spread;  // replica-spread would send llama's second replica to a on purpose
  no_spread.score_weights.erase("replica-spread");
  EXPECT_EQ(make(no_spread).place(pool, warm).placement->node, NodeIndex{1});
  EXPECT_EQ(make(no_spread).place(pool, other).placement->node, NodeIndex{0});
}

// #17, defect 8: by default a model's replicas go to different nodes (binpack and warm-affinity
// alone put them all on one), then to different zones; the user's GPU model order still wins.
TEST(Scheduler, ByDefaultAModelsReplicasSpreadOverNodesAndZones) {
  std::vector<NodeSpec> nodes;
  for (const char* name : {"a1", "a2", "b1"}) {
    nodes.push_back(node(name, "A100-80GB", 8, 80, {all(8)}));
    nodes.back().labels["zone"] = name[0] == 'a' ? "zone-a" : "zone-b";
  }
  nodes.push_back(node("h", "H100-80GB", 8, 80, {all(8)}));
  Pool pool = make_pool(nodes);
  ManualClock clock;
  Scheduler s = make();
  auto llama = whole(1, 0, {"A100-80GB"});
  llama.model = "llama";
  std::map<std::string, int> per_node;
  std::map<std::string, int> per_zone;
  for (int i = 0; i < 6; ++i) {
    Decision d = s.place(pool, llama);
    ASSERT_TRUE(d.placement) << i;
    ASSERT_TRUE(pool.commit(llama, d.placement->node, d.placement->gpus(pool), clock.now()).ok());
    const Node& n = pool.node(d.placement->node);
    ++per_node[n.name];
    ++per_zone[n.labels.at("zone")];
    // Never two ahead of another node, nor two ahead of another zone.
    for (const auto& [a, x] : per_node)
      for (const char* b : {"a1", "a2", "b1"})
        EXPECT_LE(x - per_node[b], 1) << a << " vs " << b << " after " << i + 1;
    EXPECT_LE(std::abs(per_zone["zone-a"] - per_zone["zone-b"]), 2) << i + 1;
  }
  EXPECT_EQ(per_node["a1"], 2);
  EXPECT_EQ(per_node["a2"], 2);
  EXPECT_EQ(per_node["b1"], 2);
  // Preferring H100: h takes them even once it holds more than any A100 node.
  auto ranked = whole(1, 0, {"H100-80GB", "A100-80GB"});
  ranked.model = "llama";
  for (int i = 0; i < 4; ++i) {
    Decision d = s.place(pool, ranked);
    ASSERT_TRUE(d.placement);
    EXPECT_EQ(pool.node(d.placement->node).name, "h") << "model preference beats spreading";
    ASSERT_TRUE(pool.commit(ranked, d.placement->node, d.placement->gpus(pool), clock.now()).ok());
  }
}

TEST(Scheduler, SamplingNeverHidesAFeasibleNode) {
  // Nodes with 4 empty GPUs in two NVLink pairs (useless for TP=4) and one fully linked node in the
  // middle of the index order: sampling one node from each end misses it, the full walk must not.
  std::vector<NodeSpec> nodes;
  for (int i = 0; i < 20; ++i)
    nodes.push_back(node("pairs-" + std::to_string(i), "A100-80GB", 4, 80, {{0, 1}, {2, 3}}));
  nodes.insert(nodes.begin() + 10, node("linked", "A100-80GB", 4, 80, {all(4)}));
  Pool pool = make_pool(nodes);
  PlacementSpec spec;
  spec.sample_nodes = 1;
  Decision d = make(spec).place(pool, whole(4));
  ASSERT_TRUE(d.placement) << d.reason;
  EXPECT_EQ(pool.node(d.placement->node).name, "linked");
}

TEST(Scheduler, EnforcesTenantQuota) {
  Pool pool = make_pool({node("a", "A100-80GB", 4, 80, {all(4)})});
  PlacementSpec spec;
  spec.tenant_quotas["t"] = MilliGpu(2000);
  Scheduler s = make(spec);
  ManualClock clock;
  auto r = whole(2);
  r.tenant = "t";
  ASSERT_TRUE(s.schedule(pool, r, clock.now()).ok());
  Decision d = s.place(pool, r);
  EXPECT_EQ(d.code, ErrorCode::kUnschedulable);
  EXPECT_NE(d.reason.find("tenant \"t\" is over its GPU quota"), std::string::npos);
  r.gpus = 3;
  EXPECT_EQ(s.place(pool, r).code, ErrorCode::kInfeasible);
}

TEST(Scheduler, PreemptsTheFewestLowerPriorityVictims) {
  Pool pool =
      make_pool({node("a", "A100-80GB", 2, 80, {all(2)}), node("b", "A100-80GB", 2, 80, {all(2)})});
  ManualClock clock;
  const Node& a = pool.node(NodeIndex{0});
  const Node& b = pool.node(NodeIndex{1});
  // Node a: two priority-1 replicas. Node b: one priority-5 replica holding both GPUs.
  auto a1 = pool.commit(whole(1, 1), NodeIndex{0}, {a.gpus[0]}, clock.now());
  auto a2 = pool.commit(whole(1, 1), NodeIndex{0}, {a.gpus[1]}, clock.now());
  auto b1 = pool.commit(whole(2, 5), NodeIndex{1}, {b.gpus[0], b.gpus[1]}, clock.now());
  ASSERT_TRUE(a1.ok() && a2.ok() && b1.ok());
  Scheduler s = make();
  Decision d = s.place(pool, whole(2, 10));
  ASSERT_TRUE(d.preemption);
  EXPECT_EQ(d.preemption->victims, std::vector<AllocationId>{*b1});  // one victim beats two
  EXPECT_EQ(locals(pool, d.preemption->placement), (std::vector<int>{0, 1}));
  // Equal or higher priority is never preempted.
  EXPECT_FALSE(s.place(pool, whole(2, 1)).preemption);
  // Apply the plan; the victim cannot preempt its preemptor back.
  ASSERT_TRUE(pool.release(*b1, clock.now(), "preempted").ok());
  auto winner = pool.commit(whole(2, 10), d.preemption->placement.node,
                            d.preemption->placement.gpus(pool), clock.now());
  ASSERT_TRUE(winner.ok());
  Decision back = s.place(pool, whole(2, 5));
  ASSERT_TRUE(back.preemption);
  EXPECT_EQ(back.preemption->victims.size(),
            2u);  // it may take the priority-1 pair, never the winner
  for (AllocationId v : back.preemption->victims)
    EXPECT_NE(v, *winner);
}

TEST(Scheduler, ReservationsHoldCapacityForOneDeployment) {
  Pool pool = make_pool({node("a", "A100-80GB", 2, 80, {all(2)})});
  ManualClock clock;
  Scheduler s = make();
  auto burst = whole(1);
  burst.deployment = "burst";
  auto rid = s.reserve(pool, burst, 1, clock.now());
  ASSERT_TRUE(rid.ok());
  auto other = whole(1);
  other.deployment = "other";
  ASSERT_TRUE(s.schedule(pool, other, clock.now()).ok());
  EXPECT_FALSE(s.schedule(pool, other, clock.now()).ok());  // the held GPU is not theirs
  auto mine = s.schedule(pool, burst, clock.now());
  ASSERT_TRUE(mine.ok());
  EXPECT_TRUE(pool.allocation(*mine)->slot.valid());
  EXPECT_FALSE(s.reserve(pool, burst, 1, clock.now()).ok());  // nothing free to hold
}

}  // namespace
}  // namespace gf
