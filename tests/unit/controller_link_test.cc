// ControllerLink's heartbeat: what the controller learns of a node's GPUs. A GPU in MIG mode is
// its MIG devices (#16), and NVLink groups are given in the positions the controller indexes by.
#include "agent/controller_link.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/clock.h"
#include "gpu/fake_provider.h"

namespace gf {
namespace {

struct Node {
  std::unique_ptr<FakeProvider> provider;
  Registry registry;
  std::unique_ptr<GpuMonitor> monitor;
  ProcessSupervisor sup{{}};
  std::unique_ptr<ReplicaSet> replicas;

  explicit Node(const NodeSpec& spec) {
    auto p = FakeProvider::create(spec);
    EXPECT_TRUE(p.ok()) << p.error().message;
    provider = std::move(*p);
    monitor = std::make_unique<GpuMonitor>(*provider, HealthPolicyConfig{}, registry, spec.name);
    EXPECT_TRUE(monitor->discover().ok());
    replicas = std::make_unique<ReplicaSet>(
        sup, std::filesystem::temp_directory_path().string(), "/bin/true", ReplicaRunnerConfig{},
        [](uint16_t, const std::string&, uint64_t) { return false; },
        [](uint16_t, const std::string&, TimePoint) -> std::optional<MetricsScrape> {
          return std::nullopt;
        });
  }
};

TEST(ControllerLink, ReportsMigDevicesInsteadOfTheirGpuAndNvlinkGroupsByPosition) {
  NodeSpec spec;
  spec.name = "n";
  GpuGroupSpec whole{"H100-80GB", 2, MiB(81920), 3.0, {}};
  GpuGroupSpec sliced{"A100-80GB", 1, MiB(81920), 1.8, {}};
  sliced.mig = {"3g.40gb", "2g.20gb"};
  spec.gpus = {whole, sliced, whole};  // GPUs 0 and 1, 2 (MIG), 3 and 4
  spec.nvlink_groups = {{0, 1, 2, 3, 4}};
  Node node(spec);
  ControllerLink link(ControllerLinkConfig{"n", "id", "127.0.0.1", 1, {}, {}});
  ManualClock clock;
  NodeReport r = link.build(*node.monitor, *node.replicas, clock.now());

  ASSERT_EQ(r.gpus.size(), 6u);
  std::vector<std::string> names, uuids;
  for (size_t i = 0; i < r.gpus.size(); ++i) {
    EXPECT_EQ(r.gpus[i].index, static_cast<int>(i));
    names.push_back(r.gpus[i].name);
    uuids.push_back(r.gpus[i].uuid);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"H100-80GB", "H100-80GB", "A100-80GB-MIG-3g.40gb",
                                             "A100-80GB-MIG-2g.20gb", "H100-80GB", "H100-80GB"}));
  EXPECT_EQ(uuids[2], "MIG-GPU-n-2-0");
  EXPECT_EQ(uuids[3], "MIG-GPU-n-2-1");
  EXPECT_EQ(uuids[4], "GPU-n-3");
  EXPECT_EQ(r.gpus[2].memory, MiB(40 * 1024));
  EXPECT_EQ(r.gpus[3].memory, MiB(20 * 1024));
  // The whole GPUs' NVLink clique, in report positions; the MIG GPU is not part of it.
  EXPECT_EQ(r.nvlink_groups, (std::vector<std::vector<int>>{{0, 1, 4, 5}}));
}

// A GPU found lost at discovery (an agent restarted after the GPU fell off the bus) is reported
// Lost: it was left out of the heartbeat, so the controller's pool kept it as it last knew it,
// Healthy, and could place on it. A MIG-mode GPU's devices go Lost with it.
TEST(ControllerLink, ReportsALostGpuAsLost) {
  NodeSpec spec;
  spec.name = "n";
  GpuGroupSpec whole{"H100-80GB", 1, MiB(81920), 3.0, {}};
  GpuGroupSpec sliced{"A100-80GB", 1, MiB(81920), 1.8, {}};
  sliced.mig = {"3g.40gb"};
  spec.gpus = {whole, sliced};
  Node node(spec);
  ManualClock clock;
  for (const char* gpu : {"GPU-n-0", "GPU-n-1"}) {
    FaultCommand gone;
    gone.action = FaultCommand::Action::kRemove;  // vanishes from the list: GpuInfo::lost
    gone.gpu = gpu;
    ASSERT_TRUE(node.provider->apply(gone).ok());
  }
  // As an agent restarted after its GPUs fell off the bus finds them: lost at discovery.
  ASSERT_TRUE(node.monitor->discover().ok());
  (void)node.monitor->tick(clock.now());
  ASSERT_TRUE(node.monitor->gpus().at(0).lost);
  ControllerLink link(ControllerLinkConfig{"n", "id", "127.0.0.1", 1, {}, {}});
  NodeReport r = link.build(*node.monitor, *node.replicas, clock.now());
  ASSERT_EQ(r.gpus.size(), 2u);
  EXPECT_EQ(r.gpus[0].uuid, "GPU-n-0");
  EXPECT_EQ(r.gpus[0].health, Health::kLost);
  EXPECT_EQ(r.gpus[1].uuid, "MIG-GPU-n-1-0");
  EXPECT_EQ(r.gpus[1].health, Health::kLost);
}

}  // namespace
}  // namespace gf

namespace gf {
namespace {

// "unchanged" keeps the set applied last under the new generation; the agent offers to take it
// only once it has a set, and a reply that says it before any set is refused.
TEST(ControllerLink, AnUnchangedReplyKeepsTheLastSetUnderItsGeneration) {
  NodeSpec spec;
  spec.name = "n";
  spec.gpus = {GpuGroupSpec{"H100-80GB", 2, MiB(81920), 3.0, {}}};
  Node node(spec);
  ControllerLink link(ControllerLinkConfig{"n", "id", "127.0.0.1", 1, {}, {}});
  ManualClock clock;
  EXPECT_FALSE(link.build(*node.monitor, *node.replicas, clock.now()).accepts_unchanged);

  NodeAssignment early;
  early.generation = 3;
  early.unchanged = true;
  EXPECT_FALSE(link.apply(early, *node.replicas, node.monitor->gpus(), clock.now()).ok());

  NodeAssignment full;
  full.generation = 5;
  ReplicaAssignment a;
  a.id = "r-1";
  a.generation = 5;
  a.model = "m";
  a.gpus = {"GPU-n-0"};
  full.replicas = {a};
  ASSERT_TRUE(link.apply(full, *node.replicas, node.monitor->gpus(), clock.now()).ok());
  ASSERT_EQ(node.replicas->list().size(), 1u);
  EXPECT_TRUE(link.build(*node.monitor, *node.replicas, clock.now()).accepts_unchanged);

  NodeAssignment same;
  same.generation = 9;
  same.unchanged = true;
  same.heartbeat_interval = std::chrono::seconds(4);
  ASSERT_TRUE(link.apply(same, *node.replicas, node.monitor->gpus(), clock.now()).ok());
  EXPECT_EQ(link.applied_generation(), 9);
  EXPECT_EQ(link.heartbeat_interval(), std::chrono::seconds(4));
  ASSERT_EQ(node.replicas->list().size(), 1u);
  EXPECT_EQ(node.replicas->list()[0].id, "r-1");

  // A later full set without it stops it, as before.
  NodeAssignment empty;
  empty.generation = 10;
  ASSERT_TRUE(link.apply(empty, *node.replicas, node.monitor->gpus(), clock.now()).ok());
  for (const auto& v : node.replicas->list())
    EXPECT_TRUE(v.state == ReplicaProcessState::kStopping ||
                v.state == ReplicaProcessState::kStopped);
}

}  // namespace
}  // namespace gf
