// The topology plugins: the filter keeps a multi-GPU replica inside one NVLink group when its
// spec requires it, and the score ranks candidates by how many of their GPUs share one group.
#include <gtest/gtest.h>

#include "common/clock.h"
#include "placement/scheduler.h"
#include "placement/topology_filter.h"
#include "placement/topology_score.h"
#include "test_cluster.h"

namespace gf {
namespace {

using testing::all;
using testing::node;
using testing::whole;

Pool make_pool(std::vector<NodeSpec> nodes) {
  ClusterSpec c;
  c.nodes = std::move(nodes);
  auto p = Pool::from_spec(c, ManualClock().now());
  EXPECT_TRUE(p.ok());
  return std::move(*p);
}

Candidate on(const Pool& pool, uint32_t n, uint64_t mask) {
  const Node& node = pool.node(NodeIndex{n});
  return Candidate{NodeIndex{n}, mask, node.gpus[std::countr_zero(mask)]};
}

TEST(TopologyScore, ScoresTheShareOfGpusInOneNvlinkGroup) {
  Pool pool = make_pool({node("linked", "A100-80GB", 4, 80, {all(4)}),
                         node("pairs", "A100-80GB", 4, 80, {{0, 1}, {2, 3}}),
                         node("pcie", "A100-80GB", 4, 80)});
  AllocationRequest r = whole(4);
  PlacementContext ctx(pool, r);
  std::vector<Candidate> c = {on(pool, 0, 0b1111), on(pool, 1, 0b1111), on(pool, 1, 0b0111),
                              on(pool, 2, 0b0011), on(pool, 1, 0b0100)};
  std::vector<int64_t> out(c.size());
  TopologyScore().score(ctx, c, out);
  EXPECT_EQ(out[0], 100);  // all four in one group
  EXPECT_EQ(out[1], 50);   // 2 + 2 across two groups
  EXPECT_EQ(out[2], 66);   // 2 of 3 in one group
  EXPECT_EQ(out[3], 0);    // PCIe only
  EXPECT_EQ(out[4], 100);  // a lone GPU links nothing: neutral
}

TEST(TopologyScore, WeightedItPrefersTheNodeThatGivesOneGroup) {
  // nvlink-preferred lets a 4-GPU replica span the pairs node's two groups; by node order alone
  // it would go there (ties go to the lowest node).
  Pool pool = make_pool({node("pairs", "A100-80GB", 4, 80, {{0, 1}, {2, 3}}),
                         node("linked", "A100-80GB", 4, 80, {all(4)})});
  AllocationRequest r = whole(4);
  r.topology = TopologyPolicy::kNvlinkPreferred;
  PlacementSpec spec;
  spec.score_weights = {{"binpack", 1}};
  auto plain = Scheduler::create(spec);
  ASSERT_TRUE(plain.ok());
  Decision d = plain->place(pool, r);
  ASSERT_TRUE(d.placement) << d.reason;
  EXPECT_EQ(pool.node(d.placement->node).name, "pairs");

  spec.score_weights = {{"binpack", 1}, {"topology", 1}};
  auto linked = Scheduler::create(spec);
  ASSERT_TRUE(linked.ok());
  d = linked->place(pool, r);
  ASSERT_TRUE(d.placement) << d.reason;
  EXPECT_EQ(pool.node(d.placement->node).name, "linked");
}

TEST(TopologyFilter, PicksTheBestFittingGroupAndRejectsSplitsWhenRequired) {
  Pool pool = make_pool({node("pairs", "A100-80GB", 4, 80, {{0, 1}, {2, 3}})});
  const Node& n = pool.node(NodeIndex{0});
  AllocationRequest r = whole(2);
  PlacementContext two(pool, r);
  EXPECT_EQ(TopologyFilter().pick(two, n, 0b1110).mask, 0b1100u);  // the whole free pair
  r.gpus = 4;
  PlacementContext four(pool, r);
  GpuPick split = TopologyFilter().pick(four, n, 0b1111);
  EXPECT_EQ(split.mask, 0u);
  EXPECT_STREQ(split.reason, "no NVLink group with enough usable GPUs");
  r.topology = TopologyPolicy::kAny;
  PlacementContext any(pool, r);
  EXPECT_EQ(TopologyFilter().pick(any, n, 0b1111).mask, 0b1111u);
}

}  // namespace
}  // namespace gf
