#include "agent/replica_set.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

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

// Distinct, bindable, and below the ephemeral range, where no outgoing connection can take them
// before the engine binds (CI saw "Address already in use" with kernel-chosen ports).
TEST(ReplicaSet, PortsAreDistinctFreeAndBelowTheEphemeralRange) {
  int low = 32768;
  if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); range) range >> low;
  std::set<uint16_t> taken;
  for (int i = 0; i < 20; ++i) {
    auto p = pick_free_port(taken);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_TRUE(taken.insert(*p).second);
    EXPECT_GE(*p, 10000);
    EXPECT_LT(*p, std::max(11000, low));
  }
  // A port someone listens on is never picked: of two, always the other; of one, none.
  const uint16_t busy = *taken.begin();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(busy);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  for (int i = 0; i < 20; ++i) {
    auto p = pick_free_port({}, busy, busy + 2);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(*p, busy + 1);
  }
  auto none = pick_free_port({}, busy, busy + 1);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("no free port"), std::string::npos);
  ::close(fd);
}

}  // namespace
}  // namespace gf
