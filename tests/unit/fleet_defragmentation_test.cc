// Defragmentation in the Fleet: a 4-GPU replica that fits on no node although enough GPUs are
// free across the fleet has smaller replicas moved off one node, make-before-break (their Ready
// count never drops), then lands there; the moves per minute are limited; replicas in a rollout
// never move — with fake agents and a manual clock.
#include <gtest/gtest.h>

#include "fake_agent.h"
#include "fleet/fleet.h"

namespace gf {
namespace {

using namespace std::chrono_literals;

DeploymentSpec deployment(const std::string& name, int replicas, int gpus) {
  DeploymentSpec d = one_gpu_deployment(name, replicas);
  d.model = "model-" + name;
  d.resources.gpus = gpus;
  return d;
}

class DefragmentationFleetTest : public ::testing::Test {
 protected:
  void make(FleetOptions o = {}) {
    auto f = Fleet::create(PlacementSpec{}, o, clock.now());
    ASSERT_TRUE(f.ok()) << f.error().message;
    fleet.emplace(std::move(*f));
  }
  void round() {
    for (auto* a : agents)
      a->exchange(*fleet, clock.now());
    fleet->tick(clock.now());
    clock.advance(1s);
  }
  int count(const std::string& dep, ReplicaState s) const {
    int n = 0;
    for (const auto& [id, r] : fleet->replicas())
      n += r.deployment == dep && r.state == s;
    return n;
  }
  int events(const std::string& kind) const {
    int n = 0;
    for (const auto& e : fleet->events())
      n += e.kind == kind;
    return n;
  }
  // Three 4-GPU nodes, six 1-GPU replicas of `small` spread two per node: six GPUs free, two per
  // node, and a 4-GPU replica fits nowhere.
  void fragment() {
    for (int i = 0; i < 3; ++i)
      round();  // the nodes are known
    ASSERT_TRUE(fleet->apply(deployment("small", 6, 1), "m", clock.now()).ok());
    for (int i = 0; i < 4; ++i)
      round();
    ASSERT_EQ(count("small", ReplicaState::kReady), 6);
    std::map<std::string, int> per_node;
    for (const auto& [id, r] : fleet->replicas())
      ++per_node[r.node];
    for (const auto& [node, n] : per_node)
      ASSERT_EQ(n, 2) << "the test needs two per node: " << node;
  }

  ManualClock clock;
  std::optional<Fleet> fleet;
  FakeAgent a{"node-1", 4}, b{"node-2", 4}, c{"node-3", 4};
  std::vector<FakeAgent*> agents{&a, &b, &c};
};

TEST_F(DefragmentationFleetTest, MovesTwoSmallReplicasMakeBeforeBreakThenPlacesTheBigOne) {
  make();
  fragment();
  ASSERT_TRUE(fleet->apply(deployment("big", 1, 4), "m", clock.now()).ok());
  round();
  ASSERT_EQ(events("Defragmenting"), 1);
  ASSERT_EQ(count("big", ReplicaState::kPending), 1);
  std::string reason;
  for (const auto& [id, r] : fleet->replicas())
    if (r.deployment == "big") reason = r.reason;
  EXPECT_NE(reason.find("to move off"), std::string::npos) << reason;
  for (int i = 0; i < 10 && count("big", ReplicaState::kReady) == 0; ++i) {
    round();
    // Make-before-break: the movers serve until their replacements are Ready.
    EXPECT_GE(count("small", ReplicaState::kReady), 6) << "round " << i;
  }
  ASSERT_EQ(count("big", ReplicaState::kReady), 1);
  EXPECT_EQ(count("small", ReplicaState::kReady), 6);
  EXPECT_EQ(events("Defragmenting"), 1);
  // The big replica has a node to itself.
  std::string big_node;
  for (const auto& [id, r] : fleet->replicas())
    if (r.deployment == "big") big_node = r.node;
  for (const auto& [id, r] : fleet->replicas())
    if (r.deployment == "small") EXPECT_NE(r.node, big_node);
}

TEST_F(DefragmentationFleetTest, NoMoveBeyondTheLimitPerMinuteNorOfAReplicaInARollout) {
  FleetOptions o;
  o.defrag_moves_per_minute = 1;  // the plan needs two
  make(o);
  fragment();
  ASSERT_TRUE(fleet->apply(deployment("big", 1, 4), "m", clock.now()).ok());
  for (int i = 0; i < 5; ++i)
    round();
  EXPECT_EQ(events("Defragmenting"), 0);
  EXPECT_EQ(count("big", ReplicaState::kPending), 1);
}

// Two 4-GPU replicas wait on four nodes holding two small replicas each: room is made for both,
// one plan after the other (the second plans on the pool with the first's GPUs held), and
// nothing small stops serving.
TEST_F(DefragmentationFleetTest, TwoWaitingReplicasAreMadeRoomForOneAfterTheOther) {
  FakeAgent d{"node-4", 4};
  agents.push_back(&d);
  make();
  for (int i = 0; i < 3; ++i)
    round();
  ASSERT_TRUE(fleet->apply(deployment("small", 8, 1), "m", clock.now()).ok());
  for (int i = 0; i < 4; ++i)
    round();
  ASSERT_EQ(count("small", ReplicaState::kReady), 8);
  ASSERT_TRUE(fleet->apply(deployment("big", 2, 4), "m", clock.now()).ok());
  round();
  EXPECT_EQ(events("Defragmenting"), 1);
  for (int i = 0; i < 12 && count("big", ReplicaState::kReady) < 2; ++i) {
    round();
    EXPECT_GE(count("small", ReplicaState::kReady), 8) << "round " << i;
  }
  EXPECT_EQ(events("Defragmenting"), 2);
  EXPECT_EQ(count("big", ReplicaState::kReady), 2);
  EXPECT_EQ(count("small", ReplicaState::kReady), 8);
}

TEST_F(DefragmentationFleetTest, ReplicasInARolloutStayWhereTheyAre) {
  make();
  fragment();
  // A canary of small: one replica of the new revision, then a ten-minute pause. Five GPUs stay
  // free, scattered; the only replicas that could move are small's, in the rollout.
  DeploymentSpec next = deployment("small", 6, 1);
  next.engine.args = {"--new"};
  next.rollout.strategy = RolloutStrategy::kCanary;
  next.rollout.steps = {CanaryStep{10, std::chrono::minutes(10)}};
  ASSERT_TRUE(fleet->apply(next, "m2", clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round();
  ASSERT_FALSE(fleet->deployments().at("small").stable_revision.empty()) << "no rollout running";
  ASSERT_TRUE(fleet->apply(deployment("big", 1, 4), "m", clock.now()).ok());
  for (int i = 0; i < 5; ++i)
    round();
  EXPECT_EQ(events("Defragmenting"), 0);
  EXPECT_EQ(count("big", ReplicaState::kPending), 1);
  EXPECT_EQ(count("small", ReplicaState::kDraining), 0);
}

}  // namespace
}  // namespace gf
