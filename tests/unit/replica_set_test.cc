#include "agent/replica_set.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace gf {
namespace {

TEST(ReplicaSet, EnsureIsIdempotentAndRemoveNeedsAKnownReplica) {
  ProcessSupervisor sup{{}};
  ManualClock clock;
  ReplicaSet set(sup, ::testing::TempDir(), "/bin/false", {},
                 [](uint16_t, const std::string&, uint64_t) { return false; });
  DesiredReplica r;
  r.id = "x-0";
  r.deployment.model = "m";
  r.deployment.engine.type = EngineType::kEngineSim;
  r.gpu_uuids = {"GPU-a"};
  ASSERT_TRUE(set.ensure(r, clock.now()).ok());
  ASSERT_TRUE(set.ensure(r, clock.now()).ok());
  ASSERT_EQ(set.list().size(), 1u);
  EXPECT_EQ(set.list()[0].state, ReplicaProcessState::kStarting);
  EXPECT_GT(set.list()[0].port, 0);
  EXPECT_EQ(set.remove("nope", clock.now(), std::chrono::seconds(1)).error().code,
            ErrorCode::kNotFound);
  // Two GPUs asked for by a one-GPU replica: refused with the adapter's reason.
  DesiredReplica two = r;
  two.id = "y-0";
  two.gpu_uuids = {"GPU-a", "GPU-b"};
  auto s = set.ensure(two, clock.now());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("2 GPUs allocated but the deployment asks for 1"),
            std::string::npos);
}

TEST(ReplicaSet, PortsAreDistinct) {
  std::set<uint16_t> taken;
  for (int i = 0; i < 20; ++i) {
    auto p = pick_free_port(taken);
    ASSERT_TRUE(p.ok());
    EXPECT_TRUE(taken.insert(*p).second);
  }
}

}  // namespace
}  // namespace gf
