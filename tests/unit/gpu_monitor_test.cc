// The agent's GPU round against the fake provider: faults become health transitions, and the
// metrics carry dcgm-exporter's names and pass promtool.
#include "agent/gpu_monitor.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <fstream>

#include "common/clock.h"
#include "gpu/fake_provider.h"

namespace gf {
namespace {

using std::chrono::seconds;

class GpuMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NodeSpec node;
    node.name = "node-1";
    node.gpus.push_back(GpuGroupSpec{"A100-80GB", 2, MiB(81920), 1.8, {}});
    auto p = FakeProvider::create(node);
    ASSERT_TRUE(p.ok()) << p.error().message;
    fake = std::move(*p);
    monitor = std::make_unique<GpuMonitor>(*fake, HealthPolicyConfig{}, registry, "node-1");
    ASSERT_TRUE(monitor->discover().ok());
  }
  std::vector<HealthTransition> tick() {
    clock.advance(seconds(1));
    return monitor->tick(clock.now());
  }

  ManualClock clock;
  Registry registry;
  std::unique_ptr<FakeProvider> fake;
  std::unique_ptr<GpuMonitor> monitor;
};

TEST_F(GpuMonitorTest, OverheatBecomesFaultyAndShowsInMetrics) {
  ASSERT_EQ(monitor->gpus().size(), 2u);
  EXPECT_TRUE(tick().empty());
  ASSERT_TRUE(fake->set_temperature("GPU-node-1-0", 95).ok());
  std::vector<Health> seen;
  for (int i = 0; i < 3; ++i) {
    for (const auto& t : tick())
      seen.push_back(t.to);
  }
  EXPECT_EQ(seen, (std::vector<Health>{Health::kSuspect, Health::kFaulty}));
  std::string m = registry.render();
  EXPECT_NE(
      m.find(
          R"(DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-node-1-0",modelName="NVIDIA A100-SXM4-80GB",Hostname="node-1"} 95)"),
      std::string::npos)
      << m;
  EXPECT_NE(m.find(R"(gpufleet_gpu_health{gpu="0",UUID="GPU-node-1-0",state="Faulty"} 1)"),
            std::string::npos);
  EXPECT_NE(m.find(R"(gpufleet_gpu_health{gpu="1",UUID="GPU-node-1-1",state="Healthy"} 1)"),
            std::string::npos);
}

TEST_F(GpuMonitorTest, XidsAreCountedPerCodeAndFatalOnesFault) {
  ASSERT_TRUE(fake->raise_xid("GPU-node-1-1", 13).ok());
  EXPECT_TRUE(tick().empty());  // 13 is an application error
  ASSERT_TRUE(fake->raise_xid("GPU-node-1-1", 79).ok());
  auto t = tick();
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].to, Health::kFaulty);
  EXPECT_EQ(t[0].reason, "XID 79 (fatal)");
  ASSERT_TRUE(fake->raise_xid("GPU-node-1-1", 13).ok());
  tick();
  std::string m = registry.render();
  EXPECT_NE(
      m.find(
          R"(gpufleet_gpu_xid_errors_total{gpu="1",UUID="GPU-node-1-1",modelName="NVIDIA A100-SXM4-80GB",Hostname="node-1",xid="13"} 2)"),
      std::string::npos)
      << m;
  EXPECT_NE(
      m.find(
          R"(DCGM_FI_DEV_XID_ERRORS{gpu="1",UUID="GPU-node-1-1",modelName="NVIDIA A100-SXM4-80GB",Hostname="node-1"} 13)"),
      std::string::npos);
}

TEST_F(GpuMonitorTest, FailedGpuIsLostAndComesBackOnProbation) {
  ASSERT_TRUE(fake->fail("GPU-node-1-0").ok());
  auto t = tick();
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].to, Health::kLost);
  ASSERT_TRUE(fake->restore("GPU-node-1-0").ok());
  t = tick();
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].to, Health::kProbation);
}

// promtool parses the output (exit 1 would be a parse error). Its only lint may be about the
// camelCase labels (UUID, modelName, Hostname), which are dcgm-exporter's and which existing
// dashboards and joins depend on; any other lint fails the test.
TEST_F(GpuMonitorTest, MetricsParseWithPromtoolAndLintOnlyOnDcgmLabels) {
  ASSERT_TRUE(fake->set_load("GPU-node-1-0", 0.7).ok());
  ASSERT_TRUE(fake->raise_xid("GPU-node-1-0", 31).ok());
  tick();
  std::string path = ::testing::TempDir() + "/agent-metrics.txt";
  std::ofstream(path) << registry.render();
  int rc = std::system(("promtool check metrics < " + path + " > " + path + ".out 2>&1").c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_TRUE(WEXITSTATUS(rc) == 0 || WEXITSTATUS(rc) == 3) << "promtool exit " << WEXITSTATUS(rc);
  std::ifstream out(path + ".out");
  for (std::string line; std::getline(out, line);) {
    if (line.empty()) continue;
    EXPECT_NE(line.find("label names should be written in 'snake_case' not 'camelCase'"),
              std::string::npos)
        << line;
  }
}

}  // namespace
}  // namespace gf
