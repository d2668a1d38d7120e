#include "pool/pool.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "pool/summary.h"
#include "test_cluster.h"

namespace gf {
namespace {

using testing::all;
using testing::node;
using testing::share;
using testing::whole;

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterSpec c;
    c.nodes.push_back(node("n1", "A100-80GB", 4, 80, {{0, 1}, {2, 3}}));
    c.nodes.push_back(node("n2", "H100-80GB", 2, 80, {all(2)}));
    auto p = Pool::from_spec(c, clock.now(), PoolOptions{3});
    ASSERT_TRUE(p.ok()) << p.error().message;
    pool = std::move(*p);
    n1 = *pool.find_node("n1");
    n2 = *pool.find_node("n2");
  }
  GpuIndex g(NodeIndex n, int local) { return pool.node(n).gpus[local]; }

  ManualClock clock;
  Pool pool;
  NodeIndex n1, n2;
};

TEST_F(PoolTest, BuildsInventoryWithUuidsAndNvlinkPeers) {
  EXPECT_EQ(pool.node_count(), 2u);
  EXPECT_EQ(pool.gpu_count(), 6u);
  EXPECT_EQ(pool.gpu(g(n1, 2)).uuid, "GPU-n1-2");
  EXPECT_EQ(pool.gpu(g(n1, 2)).nvlink_peers, 0b1000u);
  EXPECT_EQ(pool.gpu(g(n1, 0)).nvlink_group, 0);
  EXPECT_EQ(pool.model_name(pool.gpu(g(n2, 0)).model), "H100-80GB");
  EXPECT_EQ(pool.index().empty_count(n1, pool.gpu(g(n1, 0)).model, 0), 4);
}

TEST_F(PoolTest, RejectsDuplicateNodesAndUuids) {
  auto r = pool.add_node(node("n1", "A100-80GB", 1, 80), clock.now());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kAlreadyExists);
  NodeSpec dup = node("n3", "A100-80GB", 1, 80);
  dup.gpus[0].uuids = {"GPU-n1-0"};
  EXPECT_EQ(pool.add_node(dup, clock.now()).error().code, ErrorCode::kAlreadyExists);
}

TEST_F(PoolTest, CommitAndReleaseAreExactInverses) {
  Gpu before = pool.gpu(g(n1, 0));
  auto a = pool.commit(whole(2), n1, {g(n1, 0), g(n1, 1)}, clock.now());
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(pool.gpu(g(n1, 0)).memory_committed, MiB(80 * 1024));
  EXPECT_EQ(pool.gpu(g(n1, 1)).compute_committed, kWholeGpu);
  EXPECT_EQ(pool.index().empty_count(n1, before.model, 0), 2);
  ASSERT_TRUE(pool.release(*a, clock.now()).ok());
  EXPECT_EQ(pool.gpu(g(n1, 0)).memory_committed, before.memory_committed);
  EXPECT_EQ(pool.gpu(g(n1, 0)).shares, 0);
  EXPECT_EQ(pool.index().empty_count(n1, before.model, 0), 4);
}

TEST_F(PoolTest, DoubleReleaseAndUnknownIdsAreTypedErrors) {
  auto a = pool.commit(whole(1), n1, {g(n1, 0)}, clock.now());
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(pool.release(*a, clock.now()).ok());
  Status again = pool.release(*a, clock.now());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(again.error().message.find("already released"), std::string::npos);
  Status unknown = pool.release(AllocationId{999}, clock.now());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(pool.gpu(g(n1, 0)).shares, 0);  // the second release changed nothing
}

TEST_F(PoolTest, CommitEnforcesEveryRule) {
  // GPUs on two nodes.
  EXPECT_EQ(pool.commit(whole(2), n1, {g(n1, 0), g(n2, 0)}, clock.now()).error().code,
            ErrorCode::kInvalidArgument);
  // The same GPU twice.
  EXPECT_EQ(pool.commit(whole(2), n1, {g(n1, 0), g(n1, 0)}, clock.now()).error().code,
            ErrorCode::kInvalidArgument);
  // Across NVLink groups when NVLink is required.
  auto cross = pool.commit(whole(2), n1, {g(n1, 1), g(n1, 2)}, clock.now());
  ASSERT_FALSE(cross.ok());
  EXPECT_NE(cross.error().message.find("NVLink"), std::string::npos);
  auto any = whole(2);
  any.topology = TopologyPolicy::kAny;
  EXPECT_TRUE(pool.commit(any, n1, {g(n1, 1), g(n1, 2)}, clock.now()).ok());
  // A GPU already in use.
  EXPECT_EQ(pool.commit(whole(1), n1, {g(n1, 1)}, clock.now()).error().code,
            ErrorCode::kFailedPrecondition);
  // Zero memory and bad counts.
  auto zero = share(0);
  EXPECT_EQ(pool.commit(zero, n1, {g(n1, 0)}, clock.now()).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(pool.commit(whole(0), n1, {}, clock.now()).error().code, ErrorCode::kInvalidArgument);
  // A model the request does not accept.
  EXPECT_EQ(pool.commit(whole(1, 0, {"H100-80GB"}), n1, {g(n1, 0)}, clock.now()).error().code,
            ErrorCode::kFailedPrecondition);
}

TEST_F(PoolTest, SharesFillAGpuUpToMemoryAndShareCap) {
  GpuIndex gpu = g(n2, 0);
  auto a = pool.commit(share(30), n2, {gpu}, clock.now());
  auto b = pool.commit(share(30), n2, {gpu}, clock.now());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(pool.gpu(gpu).memory_free(), MiB(20 * 1024));
  // Compute defaults to the memory fraction, rounded up: 30/80 -> 375m.
  EXPECT_EQ(pool.allocation(*a)->compute_per_gpu, MilliGpu(375));
  auto c = pool.commit(share(30), n2, {gpu}, clock.now());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("has 20GiB free"), std::string::npos) << c.error().message;
  ASSERT_TRUE(pool.commit(share(10), n2, {gpu}, clock.now()).ok());
  auto d = pool.commit(share(1), n2, {gpu}, clock.now());  // cap is 3 shares
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("limit"), std::string::npos);
  // A whole-GPU request cannot take a shared GPU.
  EXPECT_FALSE(pool.commit(whole(1), n2, {gpu}, clock.now()).ok());
}

TEST_F(PoolTest, HealthRecoversOnlyThroughProbation) {
  GpuIndex gpu = g(n1, 0);
  ASSERT_TRUE(pool.set_health(gpu, Health::kFaulty, "XID 79", clock.now()).ok());
  EXPECT_FALSE(pool.commit(whole(1), n1, {gpu}, clock.now()).ok());
  Status bad = pool.set_health(gpu, Health::kSuspect, "?", clock.now());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("cannot go from Faulty to Suspect"), std::string::npos);
  clock.advance(std::chrono::minutes(5));
  ASSERT_TRUE(pool.set_health(gpu, Health::kProbation, "no XID for 5m", clock.now()).ok());
  EXPECT_FALSE(pool.commit(whole(1), n1, {gpu}, clock.now()).ok());
  ASSERT_TRUE(pool.set_health(gpu, Health::kHealthy, "probation passed", clock.now()).ok());
  EXPECT_TRUE(pool.commit(whole(1), n1, {gpu}, clock.now()).ok());

  auto events = pool.take_events();
  std::vector<std::string> transitions;
  for (const auto& e : events) {
    if (e.kind == PoolEventKind::kGpuStateChanged)
      transitions.push_back(e.from + "->" + e.to + ":" + e.reason);
  }
  EXPECT_EQ(transitions,
            (std::vector<std::string>{"Healthy->Faulty:XID 79", "Faulty->Probation:no XID for 5m",
                                      "Probation->Healthy:probation passed"}));
  EXPECT_TRUE(pool.take_events().empty());
}

TEST_F(PoolTest, ReservedGpusNeedRequestsThatAllowThem) {
  GpuIndex gpu = g(n2, 1);
  ASSERT_TRUE(pool.set_health(gpu, Health::kReserved, "free memory below floor", clock.now()).ok());
  EXPECT_FALSE(pool.commit(whole(1), n2, {gpu}, clock.now()).ok());
  auto r = whole(1);
  r.allow_reserved = true;
  EXPECT_TRUE(pool.commit(r, n2, {gpu}, clock.now()).ok());
}

TEST_F(PoolTest, CordonIsRememberedSeparatelyFromHealth) {
  GpuIndex gpu = g(n1, 3);
  ASSERT_TRUE(pool.set_health(gpu, Health::kFaulty, "ECC DBE", clock.now()).ok());
  ASSERT_TRUE(pool.set_admin(gpu, AdminState::kCordoned, "operator", clock.now()).ok());
  EXPECT_EQ(pool.gpu(gpu).state(), GpuState::kCordoned);
  ASSERT_TRUE(pool.set_admin(gpu, AdminState::kNone, "uncordon", clock.now()).ok());
  EXPECT_EQ(pool.gpu(gpu).state(), GpuState::kFaulty);
  ASSERT_TRUE(pool.set_node_admin(n2, AdminState::kDraining, "maintenance", clock.now()).ok());
  EXPECT_EQ(pool.gpu(g(n2, 0)).state(), GpuState::kDraining);
  EXPECT_FALSE(pool.commit(whole(1), n2, {g(n2, 0)}, clock.now()).ok());
}

TEST_F(PoolTest, LostNodeReportsItsAllocations) {
  auto gone = pool.commit(whole(1), n2, {g(n2, 0)}, clock.now());
  ASSERT_TRUE(gone.ok());
  ASSERT_TRUE(pool.release(*gone, clock.now()).ok());
  auto a = pool.commit(whole(2), n2, {g(n2, 0), g(n2, 1)}, clock.now());
  ASSERT_TRUE(a.ok());
  auto elsewhere = pool.commit(whole(1), n1, {g(n1, 0)}, clock.now());
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_EQ(pool.faulty_or_lost(), 0u);
  auto affected = pool.mark_node_lost(n2, "heartbeats stopped", clock.now());
  // Only what still runs there: not a released one, not another node's.
  EXPECT_EQ(affected, std::vector<AllocationId>{*a});
  EXPECT_EQ(pool.faulty_or_lost(), pool.node(n2).gpus.size());
  EXPECT_EQ(pool.gpu(g(n2, 0)).state(), GpuState::kLost);
  // A returning GPU must pass probation.
  EXPECT_FALSE(pool.set_health(g(n2, 0), Health::kHealthy, "back", clock.now()).ok());
  EXPECT_TRUE(pool.set_health(g(n2, 0), Health::kProbation, "back", clock.now()).ok());
  EXPECT_EQ(pool.faulty_or_lost(), pool.node(n2).gpus.size() - 1);
  // Faulty counts too, and stops counting once the GPU recovers.
  ASSERT_TRUE(pool.set_health(g(n1, 1), Health::kFaulty, "xid 79", clock.now()).ok());
  EXPECT_EQ(pool.faulty_or_lost(), pool.node(n2).gpus.size());
  ASSERT_TRUE(pool.set_health(g(n1, 1), Health::kProbation, "quiet", clock.now()).ok());
  EXPECT_EQ(pool.faulty_or_lost(), pool.node(n2).gpus.size() - 1);
}

TEST_F(PoolTest, ReservationSlotsServeOnlyTheirDeployment) {
  auto req = whole(1);
  req.deployment = "burst";
  ReservationId rid = pool.create_reservation("burst");
  auto slot = pool.commit(req, n2, {g(n2, 0)}, clock.now(), rid);
  ASSERT_TRUE(slot.ok());
  EXPECT_EQ(pool.free_slot_for(req), std::optional<AllocationId>(*slot));
  auto other = whole(1);
  other.deployment = "other";
  EXPECT_FALSE(pool.free_slot_for(other).has_value());
  EXPECT_FALSE(pool.bind_slot(*slot, other, clock.now()).ok());
  auto replica = pool.bind_slot(*slot, req, clock.now());
  ASSERT_TRUE(replica.ok());
  EXPECT_FALSE(pool.release(*slot, clock.now()).ok());  // a slot in use stays
  EXPECT_EQ(pool.gpu(g(n2, 0)).shares, 1);              // binding commits nothing new
  EXPECT_FALSE(pool.free_slot_for(req).has_value());
  ASSERT_TRUE(pool.release(*replica, clock.now()).ok());
  EXPECT_EQ(pool.gpu(g(n2, 0)).shares, 1);  // capacity stays held for the deployment
  EXPECT_TRUE(pool.free_slot_for(req).has_value());
  ASSERT_TRUE(pool.release_reservation(rid, clock.now()).ok());
  EXPECT_EQ(pool.gpu(g(n2, 0)).shares, 0);
}

TEST_F(PoolTest, SummaryCountsStatesAndFragmentation) {
  // n1 groups {0,1} {2,3}: take GPU 0 and 2, leaving 1 and 3 free but in different groups.
  ASSERT_TRUE(pool.commit(whole(1), n1, {g(n1, 0)}, clock.now()).ok());
  ASSERT_TRUE(pool.commit(whole(1), n1, {g(n1, 2)}, clock.now()).ok());
  ASSERT_TRUE(pool.set_health(g(n2, 1), Health::kFaulty, "overheat", clock.now()).ok());
  PoolSummary s = summarize(pool);
  EXPECT_EQ(s.total.gpus, 6);
  EXPECT_EQ(s.total.allocated, 2);
  EXPECT_EQ(s.total.unavailable, 1);
  EXPECT_EQ(s.total.idle, 3);
  const CapacityTotals& a100 = s.by_model.at("A100-80GB");
  EXPECT_EQ(a100.idle, 2);
  // Only one of the two free A100s can join the node's largest free NVLink set.
  EXPECT_DOUBLE_EQ(a100.fragmentation, 0.5);
  EXPECT_DOUBLE_EQ(s.by_model.at("H100-80GB").fragmentation, 0.0);
  EXPECT_EQ(s.by_node.at("n1").memory_committed, MiB(160 * 1024));
}

}  // namespace
}  // namespace gf
