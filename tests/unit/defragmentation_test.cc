// Defragmentation's planner: a 4-GPU request that fits on no node although four GPUs are free
// across the pool gets the fewest moves of smaller allocations that free one node, each mover
// fitting elsewhere; nothing when the pool lacks the GPUs (load, not fragmentation), when the
// request fits as it is, or when the caller forbids the moves it would need.
#include "placement/defragmentation.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "test_cluster.h"

namespace gf {
namespace {

using testing::all;
using testing::node;
using testing::whole;

class DefragmentationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Scheduler::create(PlacementSpec{});
    ASSERT_TRUE(s.ok());
    scheduler.emplace(std::move(*s));
    ClusterSpec c;
    for (const char* name : {"a", "b", "c"})
      c.nodes.push_back(node(name, "A100-80GB", 4, 80, {all(4)}));
    auto p = Pool::from_spec(c, clock.now());
    ASSERT_TRUE(p.ok());
    pool.emplace(std::move(*p));
  }
  AllocationId put(const std::string& node_name, std::vector<int> locals, int gpus = 1) {
    const Node& n = pool->node(*pool->find_node(node_name));
    std::vector<GpuIndex> g;
    for (int i : locals)
      g.push_back(n.gpus[i]);
    AllocationRequest r = whole(gpus);
    r.deployment = "small-" + node_name;
    auto id = pool->commit(r, *pool->find_node(node_name), g, clock.now());
    EXPECT_TRUE(id.ok()) << id.error().message;
    return *id;
  }
  // Carries the plan out at once, as the fragmentation replay does; false if a step is refused.
  bool carry_out(const DefragPlan& plan, const AllocationRequest& r) {
    std::vector<AllocationRequest> movers;
    for (const DefragMove& m : plan.moves) {
      movers.push_back(pool->allocation(m.from)->request);
      if (!pool->release(m.from, clock.now()).ok()) return false;
    }
    if (!pool->commit(r, plan.placement.node, plan.placement.gpus(*pool), clock.now()).ok())
      return false;
    for (size_t i = 0; i < movers.size(); ++i) {
      const Candidate& to = plan.moves[i].to;
      if (!pool->commit(movers[i], to.node, to.gpus(*pool), clock.now()).ok()) return false;
    }
    return true;
  }

  ManualClock clock;
  std::optional<Scheduler> scheduler;
  std::optional<Pool> pool;
};

TEST_F(DefragmentationTest, FreesTheNodeThatNeedsTheFewestMovesAndEveryMoverFitsElsewhere) {
  // a: 2 used; b: 3 used; c: 3 used (one 2-GPU allocation). Free: 2 + 1 + 1 = 4, at most 2 on one
  // node: a 4-GPU request fits nowhere. Freeing a takes two 1-GPU moves.
  put("a", {0});
  put("a", {1});
  put("b", {0});
  put("b", {1});
  put("b", {2});
  put("c", {0, 1}, 2);
  put("c", {2});
  const AllocationRequest r = whole(4);
  ASSERT_FALSE(scheduler->place(*pool, r).placed());
  auto plan = plan_defragmentation(*scheduler, *pool, r, DefragOptions{}, clock.now());
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(pool->node(plan->placement.node).name, "a");
  EXPECT_EQ(plan->moves.size(), 2u);
  EXPECT_EQ(plan->free_gpus, 4);
  EXPECT_EQ(plan->most_free_on_a_node, 2);
  for (const DefragMove& m : plan->moves)
    EXPECT_NE(pool->node(m.to.node).name, "a") << "a mover would stay on the node it frees";
  ASSERT_TRUE(carry_out(*plan, r));
  EXPECT_EQ(pool->allocations().size(), 8u);  // 7 allocations, every one placed, and the request
}

TEST_F(DefragmentationTest, NothingWhenThePoolLacksTheGpusOrTheRequestFitsOrMovesAreForbidden) {
  const AllocationRequest r = whole(4);
  // Fits as it is: nothing to move.
  EXPECT_FALSE(plan_defragmentation(*scheduler, *pool, r, DefragOptions{}, clock.now()));
  // Three GPUs free in all: load, not fragmentation.
  for (const char* n : {"a", "b", "c"})
    put(n, {0, 1, 2}, 3);
  ASSERT_FALSE(scheduler->place(*pool, r).placed());
  EXPECT_FALSE(plan_defragmentation(*scheduler, *pool, r, DefragOptions{}, clock.now()));
}

TEST_F(DefragmentationTest, RespectsTheCallersRuleAndTheMoveLimit) {
  put("a", {0});
  put("a", {1});
  put("b", {0});
  put("b", {1});
  put("c", {0});
  put("c", {1});
  const AllocationRequest r = whole(4);  // 6 free, 2 per node
  DefragOptions none;
  none.may_move = [](const Allocation&) { return false; };
  EXPECT_FALSE(plan_defragmentation(*scheduler, *pool, r, none, clock.now()));
  DefragOptions one;
  one.max_moves = 1;
  EXPECT_FALSE(plan_defragmentation(*scheduler, *pool, r, one, clock.now()));
  // Only b's may move: b is the node freed.
  DefragOptions only_b;
  only_b.may_move = [](const Allocation& a) { return a.request.deployment == "small-b"; };
  auto plan = plan_defragmentation(*scheduler, *pool, r, only_b, clock.now());
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(pool->node(plan->placement.node).name, "b");
  // A single GPU or a share has nothing to gather.
  EXPECT_FALSE(plan_defragmentation(*scheduler, *pool, whole(1), DefragOptions{}, clock.now()));
}

}  // namespace
}  // namespace gf
