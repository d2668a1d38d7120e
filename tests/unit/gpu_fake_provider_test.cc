// FakeProvider: GPUs from a Cluster manifest node, telemetry that follows load, fault injection;
// and GpuSampler driving a provider on its own thread.
#include "gpu/fake_provider.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "common/clock.h"
#include "gpu/gpu_sampler.h"

namespace gf {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Optional;

constexpr const char* kManifest = R"(apiVersion: gpufleet/v1
kind: Cluster
metadata: {name: test}
spec:
  nodes:
    - name: node-a
      gpus:
        - {model: H100-80GB, count: 2, memory: 80GiB, uuids: [GPU-h0, GPU-h1]}
        - {model: L4, count: 2, memory: 24GiB}
      nvlink: [[0, 1]]
    - name: node-b
      gpus:
        - {model: A100-40GB, count: 1, memory: 40GiB}
)";

std::unique_ptr<FakeProvider> make(const Clock* clock = nullptr) {
  auto spec = parse_node_spec(kManifest, "test.yaml", "node-a");
  EXPECT_TRUE(spec.ok()) << spec.error().describe();
  auto p = FakeProvider::create(*spec, clock);
  EXPECT_TRUE(p.ok()) << p.error().describe();
  return std::move(*p);
}

TEST(GpuFakeProviderTest, DiscoversTheManifestNode) {
  auto fake = make();
  auto gpus = fake->discover();
  ASSERT_TRUE(gpus.ok());
  ASSERT_EQ(gpus->size(), 4u);
  EXPECT_EQ((*gpus)[0].uuid, "GPU-h0");
  EXPECT_EQ((*gpus)[1].uuid, "GPU-h1");
  EXPECT_EQ((*gpus)[2].uuid, "GPU-node-a-2");  // Pool::add_node's rule: GPU-<node>-<index>
  EXPECT_EQ((*gpus)[3].uuid, "GPU-node-a-3");
  // As NVML names them: the manifest's H100-80GB and L4 are catalogue GPUs.
  EXPECT_EQ((*gpus)[0].name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ((*gpus)[2].name, "NVIDIA L4");
  EXPECT_EQ((*gpus)[0].memory_total_mib(), MiB(80 * 1024));
  EXPECT_EQ((*gpus)[3].memory_total, to_bytes(MiB(24 * 1024)));
  EXPECT_THAT((*gpus)[0].nvlink_peers, ElementsAre(1));
  EXPECT_THAT((*gpus)[1].nvlink_peers, ElementsAre(0));
  EXPECT_THAT((*gpus)[2].nvlink_peers, IsEmpty());
  EXPECT_EQ((*gpus)[3].index, 3);
  EXPECT_EQ((*gpus)[3].pci_bus_id, "00000000:13:00.0");
  EXPECT_EQ((*gpus)[1].topology[1], TopologyLevel::kInternal);
  EXPECT_EQ((*gpus)[1].topology[2], TopologyLevel::kNode);
  EXPECT_EQ(fake->name(), "fake");
}

TEST(GpuFakeProviderTest, NodeSpecErrorsNameTheProblem) {
  auto missing = parse_node_spec(kManifest, "test.yaml", "node-z");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(missing.error().message, HasSubstr("nodes: node-a, node-b"));

  auto bad = parse_node_spec(
      "apiVersion: gpufleet/v1\nkind: Cluster\nmetadata: {name: x}\n"
      "spec: {nodes: [{name: n, gpus: [{model: X, count: 1, memory: 8Gx}]}]}\n",
      "bad.yaml", "n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("bad.yaml:"));

  auto file = load_node_spec("/nonexistent/cluster.yaml", "n");
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.error().message, HasSubstr("/nonexistent/cluster.yaml"));

  NodeSpec empty;
  empty.name = "e";
  EXPECT_THAT(FakeProvider::create(empty).error().message, HasSubstr("has no GPUs"));
  NodeSpec wrong_uuids;
  wrong_uuids.name = "w";
  wrong_uuids.gpus.push_back(GpuGroupSpec{"A100", 2, MiB(1024), 1.0, {"GPU-x"}});
  EXPECT_THAT(FakeProvider::create(wrong_uuids).error().message, HasSubstr("1 UUIDs listed"));
  NodeSpec bad_link;
  bad_link.name = "l";
  bad_link.gpus.push_back(GpuGroupSpec{"A100", 2, MiB(1024), 1.0, {}});
  bad_link.nvlink_groups = {{0, 5}};
  EXPECT_THAT(FakeProvider::create(bad_link).error().message, HasSubstr("names GPU 5"));
}

TEST(GpuFakeProviderTest, TelemetryFollowsLoad) {
  auto fake = make();
  auto idle = fake->sample();
  ASSERT_TRUE(idle.ok());
  ASSERT_EQ(idle->size(), 4u);
  const GpuSample& s0 = (*idle)[0];
  EXPECT_THAT(s0.utilization_pct, Optional(0));
  EXPECT_THAT(s0.temperature_c, Optional(FakeProvider::kIdleTemperatureC));
  EXPECT_THAT(s0.power_w, Optional(70.0));
  EXPECT_THAT(s0.throttle_reasons, Optional(uint64_t{0x1}));  // idle
  EXPECT_THAT(s0.memory_used, Optional(Bytes(0)));
  EXPECT_THAT(s0.ecc_double_bit_volatile, Optional(uint64_t{0}));

  ASSERT_TRUE(fake->set_load("GPU-h0", 0.5).ok());
  ASSERT_TRUE(fake->set_load("3", 1.0).ok());
  ASSERT_TRUE(fake->set_memory_used("GPU-h0", to_bytes(MiB(20 * 1024))).ok());
  auto busy = fake->sample();
  ASSERT_TRUE(busy.ok());
  const GpuSample& h0 = (*busy)[0];
  EXPECT_THAT(h0.utilization_pct, Optional(50));
  EXPECT_THAT(h0.temperature_c, Optional(55));
  EXPECT_THAT(h0.power_w, Optional(385.0));  // 70 + 0.5 * (700 - 70)
  EXPECT_THAT(h0.throttle_reasons, Optional(uint64_t{0}));
  EXPECT_THAT(h0.memory_used, Optional(to_bytes(MiB(20 * 1024))));
  EXPECT_THAT(h0.memory_free, Optional(to_bytes(MiB(60 * 1024))));
  const GpuSample& l4 = (*busy)[3];
  EXPECT_THAT(l4.utilization_pct, Optional(100));
  EXPECT_THAT(l4.power_w, Optional(72.0));
  EXPECT_THAT(l4.temperature_c, Optional(80));

  EXPECT_EQ(fake->set_load("GPU-h0", 1.5).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(fake->set_load("GPU-nope", 0.5).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(fake->set_load("4", 0.5).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(fake->set_memory_used("0", to_bytes(MiB(81 * 1024))).error().code,
            ErrorCode::kInvalidArgument);
}

TEST(GpuFakeProviderTest, TemperatureOverrideHoldsUntilCleared) {
  auto fake = make();
  ASSERT_TRUE(fake->set_temperature("1", 96).ok());
  auto s = fake->sample();
  ASSERT_TRUE(s.ok());
  EXPECT_THAT((*s)[1].temperature_c, Optional(96));
  EXPECT_THAT((*s)[1].throttle_reasons, Optional(uint64_t{0x1 | 0x20 | 0x40}));
  ASSERT_TRUE(fake->set_load("1", 1.0).ok());
  EXPECT_THAT((*fake->sample())[1].temperature_c, Optional(96));
  ASSERT_TRUE(fake->set_temperature("1", std::nullopt).ok());
  EXPECT_THAT((*fake->sample())[1].temperature_c, Optional(80));
  EXPECT_EQ(fake->set_temperature("1", 500).error().code, ErrorCode::kInvalidArgument);
}

TEST(GpuFakeProviderTest, RaisedXidsAreDrainedOnceWithTheClockTime) {
  ManualClock clock;
  auto fake = make(&clock);
  ASSERT_TRUE(fake->raise_xid("GPU-h1", 79).ok());
  clock.advance(std::chrono::seconds(1));
  ASSERT_TRUE(fake->raise_xid("2", 48).ok());
  auto xids = fake->drain_xids();
  ASSERT_EQ(xids.size(), 2u);
  EXPECT_EQ(xids[0].uuid, "GPU-h1");
  EXPECT_EQ(xids[0].index, 1);
  EXPECT_EQ(xids[0].xid, 79u);
  EXPECT_EQ(xids[0].time, clock.now() - std::chrono::seconds(1));
  EXPECT_EQ(xids[1].uuid, "GPU-node-a-2");
  EXPECT_EQ(xids[1].time, clock.now());
  EXPECT_THAT(fake->drain_xids(), IsEmpty());
  EXPECT_EQ(fake->raise_xid("0", 0).error().code, ErrorCode::kInvalidArgument);
}

TEST(GpuFakeProviderTest, FailAndRemoveMakeTheGpuLostAndRestoreBringsItBack) {
  auto fake = make();
  ASSERT_TRUE(fake->add_ecc_double_bit("0", 2).ok());
  ASSERT_TRUE(fake->fail("GPU-h1").ok());
  ASSERT_TRUE(fake->remove("3").ok());
  auto s = fake->sample();
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 4u);
  EXPECT_THAT((*s)[0].ecc_double_bit_volatile, Optional(uint64_t{2}));
  EXPECT_TRUE((*s)[1].lost);
  EXPECT_THAT((*s)[1].error, HasSubstr("GPU_IS_LOST"));
  EXPECT_EQ((*s)[1].temperature_c, std::nullopt);
  EXPECT_TRUE((*s)[3].lost);
  EXPECT_THAT((*s)[3].error, HasSubstr("no longer listed"));
  EXPECT_FALSE((*s)[2].lost);
  auto gpus = fake->discover();
  ASSERT_TRUE(gpus.ok());
  EXPECT_TRUE((*gpus)[1].lost);
  EXPECT_TRUE((*gpus)[3].lost);
  EXPECT_EQ((*gpus)[3].uuid, "GPU-node-a-3");

  ASSERT_TRUE(fake->restore("GPU-h1").ok());
  ASSERT_TRUE(fake->restore("3").ok());
  ASSERT_TRUE(fake->restore("0").ok());
  s = fake->sample();
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE((*s)[1].lost);
  EXPECT_FALSE((*s)[3].lost);
  EXPECT_THAT((*s)[0].ecc_double_bit_volatile, Optional(uint64_t{0}));
}

TEST(GpuFakeProviderTest, FaultCommandsFromJson) {
  auto fake = make();
  auto apply = [&](std::string_view json) -> Status {
    auto c = parse_fault_command(json);
    if (!c.ok()) return c.error();
    return fake->apply(*c);
  };
  ASSERT_TRUE(apply(R"({"gpu": "GPU-h0", "action": "set-temperature", "value": 92})").ok());
  ASSERT_TRUE(apply(R"({"gpu": 1, "action": "set_load", "value": 0.25})").ok());
  ASSERT_TRUE(apply(R"({"gpu": 1, "action": "set-memory-used", "value": "10GiB"})").ok());
  ASSERT_TRUE(apply(R"({"gpu": 2, "action": "set-memory-used", "value": 1048576})").ok());
  ASSERT_TRUE(apply(R"({"gpu": 2, "action": "raise-xid", "value": 79})").ok());
  ASSERT_TRUE(apply(R"({"gpu": 2, "action": "add-ecc"})").ok());
  ASSERT_TRUE(apply(R"({"gpu": 3, "action": "fail"})").ok());
  auto s = fake->sample();
  ASSERT_TRUE(s.ok());
  EXPECT_THAT((*s)[0].temperature_c, Optional(92));
  EXPECT_THAT((*s)[1].utilization_pct, Optional(25));
  EXPECT_THAT((*s)[1].memory_used, Optional(to_bytes(MiB(10 * 1024))));
  EXPECT_THAT((*s)[2].memory_used, Optional(Bytes(1048576)));
  EXPECT_THAT((*s)[2].ecc_double_bit_volatile, Optional(uint64_t{1}));
  EXPECT_TRUE((*s)[3].lost);
  EXPECT_EQ(fake->drain_xids().size(), 1u);
  ASSERT_TRUE(apply(R"({"gpu": 0, "action": "clear-temperature"})").ok());
  ASSERT_TRUE(apply(R"({"gpu": "3", "action": "restore"})").ok());
  s = fake->sample();
  EXPECT_THAT((*s)[0].temperature_c, Optional(FakeProvider::kIdleTemperatureC));
  EXPECT_FALSE((*s)[3].lost);

  EXPECT_THAT(apply("{nope").error().message, HasSubstr("not valid JSON"));
  EXPECT_THAT(apply(R"({"gpu": 0, "action": "explode"})").error().message,
              HasSubstr("unknown action \"explode\" (expected one of: set-load,"));
  EXPECT_THAT(apply(R"({"gpu": 0, "action": "set-load"})").error().message,
              HasSubstr("needs a numeric \"value\""));
  EXPECT_THAT(apply(R"({"gpu": 0, "action": "fail", "value": 1})").error().message,
              HasSubstr("takes no \"value\""));
  EXPECT_THAT(apply(R"({"gpu": -1, "action": "fail"})").error().message,
              HasSubstr("non-negative index"));
  EXPECT_THAT(apply(R"({"gpu": 0, "action": "fail", "colour": "red"})").error().message,
              HasSubstr("unknown field \"colour\""));
  EXPECT_EQ(apply(R"({"gpu": "GPU-zz", "action": "fail"})").error().code, ErrorCode::kNotFound);
  EXPECT_THAT(apply(R"({"gpu": 0, "action": "set-temperature", "value": 90.5})").error().message,
              HasSubstr("whole number"));
  EXPECT_THAT(apply(R"({"gpu": 0, "action": "set-memory-used", "value": "lots"})").error().message,
              HasSubstr("value:"));
}

TEST(GpuSamplerTest, ParsesTheInterval) {
  EXPECT_EQ(*parse_sample_interval("1s"), std::chrono::seconds(1));
  EXPECT_EQ(*parse_sample_interval("250ms"), std::chrono::milliseconds(250));
  EXPECT_THAT(parse_sample_interval("1ms").error().message, HasSubstr("out of range"));
  EXPECT_THAT(parse_sample_interval("2h").error().message, HasSubstr("out of range"));
  EXPECT_FALSE(parse_sample_interval("5").ok());
  EXPECT_EQ(SamplerOptions{}.interval, std::chrono::seconds(1));
}

TEST(GpuSamplerTest, SamplesOnItsThreadAndHandsOverXids) {
  auto fake = make();
  ASSERT_TRUE(fake->raise_xid("0", 43).ok());
  std::mutex mu;
  std::condition_variable cv;
  std::vector<SampleRound> rounds;
  GpuSampler sampler(*fake, SamplerOptions{std::chrono::milliseconds(10)}, [&](SampleRound&& r) {
    std::lock_guard lock(mu);
    rounds.push_back(std::move(r));
    cv.notify_all();
  });
  EXPECT_FALSE(sampler.running());
  sampler.start();
  EXPECT_TRUE(sampler.running());
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return rounds.size() >= 3; }));
  }
  sampler.stop();
  EXPECT_FALSE(sampler.running());
  std::lock_guard lock(mu);
  ASSERT_TRUE(rounds[0].samples.ok());
  EXPECT_EQ(rounds[0].samples->size(), 4u);
  ASSERT_EQ(rounds[0].xids.size(), 1u);
  EXPECT_EQ(rounds[0].xids[0].xid, 43u);
  EXPECT_THAT(rounds[1].xids, IsEmpty());
  EXPECT_GE(rounds[0].cost.count(), 0);
}

}  // namespace
}  // namespace gf
