// NvmlProvider end to end: the real dlopen path against the fake libnvidia-ml.so.1 built from
// tests/fakes/fake_nvml.cc, driven through its state file.
#include "gpu/nvml_provider.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "../fakes/fake_nvml_state.h"
#include "common/clock.h"

namespace gf {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using testing::FakeNvmlState;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Optional;

constexpr auto kBoundedWait = std::chrono::seconds(10);  // never reached when the code works

NvmlOptions fake_options(std::string library = testing::fake_nvml_library()) {
  NvmlOptions o;
  o.library = std::move(library);
  o.event_wait = std::chrono::milliseconds(20);
  return o;
}

// Two H100s joined by two NVLinks, on different NUMA nodes.
std::map<std::string, std::string> two_gpus() {
  return {
      {"count", "2"},
      {"gpu0.uuid", "GPU-aaaaaaaa-0000"},
      {"gpu0.name", "NVIDIA H100 80GB HBM3"},
      {"gpu0.pci", "00000000:17:00.0"},
      {"gpu0.memory_total", "85520809984"},
      {"gpu0.memory_used", "1073741824"},
      {"gpu0.memory_reserved", "536870912"},
      {"gpu0.util", "87"},
      {"gpu0.mem_util", "40"},
      {"gpu0.temp", "64"},
      {"gpu0.power_mw", "412345"},
      {"gpu0.throttle", "0x4"},
      {"gpu0.ecc_dbe", "3"},
      {"gpu0.nvlink", "1,1"},
      {"gpu0.numa", "0"},
      {"gpu1.uuid", "GPU-bbbbbbbb-1111"},
      {"gpu1.name", "NVIDIA H100 80GB HBM3"},
      {"gpu1.pci", "00000000:2A:00.0"},
      {"gpu1.mig", "1"},
      {"gpu1.nvlink", "0,0"},
      {"gpu1.numa", "1"},
  };
}

const GpuSample& by_index(const std::vector<GpuSample>& s, int index) {
  auto it = std::find_if(s.begin(), s.end(), [&](const GpuSample& x) { return x.index == index; });
  if (it == s.end()) throw std::runtime_error("no sample for that index");
  return *it;
}

TEST(GpuNvmlTest, DiscoversGpusThroughTheFakeLibrary) {
  FakeNvmlState state(two_gpus());
  NvmlProvider nvml(fake_options());
  auto gpus = nvml.discover();
  ASSERT_TRUE(gpus.ok()) << gpus.error().describe();
  ASSERT_EQ(gpus->size(), 2u);
  const GpuInfo& a = (*gpus)[0];
  EXPECT_EQ(a.index, 0);
  EXPECT_EQ(a.uuid, "GPU-aaaaaaaa-0000");
  EXPECT_EQ(a.name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(a.memory_total, Bytes(85520809984));
  EXPECT_EQ(a.memory_total_mib(), MiB(81559));
  EXPECT_EQ(a.pci_bus_id, "00000000:17:00.0");
  EXPECT_FALSE(a.mig_enabled);
  EXPECT_FALSE(a.lost);
  EXPECT_THAT(a.nvlink_peers, ElementsAre(1));
  EXPECT_THAT(a.topology, ElementsAre(TopologyLevel::kInternal, TopologyLevel::kSystem));
  const GpuInfo& b = (*gpus)[1];
  EXPECT_EQ(b.uuid, "GPU-bbbbbbbb-1111");
  EXPECT_TRUE(b.mig_enabled);
  EXPECT_THAT(b.nvlink_peers, ElementsAre(0));
  EXPECT_EQ(nvml.driver_version(), "999.99.99-fake");
  EXPECT_THAT(nvml.missing_functions(), IsEmpty());
  EXPECT_TRUE(nvml.watching_xids());
  EXPECT_THAT(nvml.take_notices(), IsEmpty());
  EXPECT_EQ(nvml.name(), "nvml");
}

TEST(GpuNvmlTest, NvSwitchLinksMakeAllSwitchedGpusPeers) {
  FakeNvmlState state({{"count", "3"},
                       {"gpu0.nvlink", "switch,switch"},
                       {"gpu1.nvlink", "switch"},
                       {"gpu2.numa", "0"}});
  NvmlProvider nvml(fake_options());
  auto gpus = nvml.discover();
  ASSERT_TRUE(gpus.ok()) << gpus.error().describe();
  ASSERT_EQ(gpus->size(), 3u);
  EXPECT_THAT((*gpus)[0].nvlink_peers, ElementsAre(1));
  EXPECT_THAT((*gpus)[1].nvlink_peers, ElementsAre(0));
  EXPECT_THAT((*gpus)[2].nvlink_peers, IsEmpty());  // NOT_SUPPORTED: PCIe only, not an error
  EXPECT_EQ((*gpus)[2].topology[0], TopologyLevel::kNode);
  EXPECT_THAT(nvml.take_notices(), IsEmpty());
}

TEST(GpuNvmlTest, SamplesTelemetry) {
  FakeNvmlState state(two_gpus());
  NvmlProvider nvml(fake_options());
  auto samples = nvml.sample();  // discovers first
  ASSERT_TRUE(samples.ok()) << samples.error().describe();
  ASSERT_EQ(samples->size(), 2u);
  const GpuSample& s = by_index(*samples, 0);
  EXPECT_EQ(s.uuid, "GPU-aaaaaaaa-0000");
  EXPECT_THAT(s.utilization_pct, Optional(87));
  EXPECT_THAT(s.memory_utilization_pct, Optional(40));
  // nvmlDeviceGetMemoryInfo_v2: `used` leaves out the driver's reserved memory.
  EXPECT_THAT(s.memory_used, Optional(Bytes(1073741824)));
  EXPECT_THAT(s.memory_free, Optional(Bytes(85520809984 - 1073741824 - 536870912)));
  EXPECT_THAT(s.temperature_c, Optional(64));
  ASSERT_TRUE(s.power_w.has_value());
  EXPECT_DOUBLE_EQ(*s.power_w, 412.345);
  EXPECT_THAT(s.throttle_reasons, Optional(uint64_t{0x4}));
  EXPECT_THAT(s.ecc_double_bit_volatile, Optional(uint64_t{3}));
  EXPECT_FALSE(s.lost);
  EXPECT_EQ(s.error, "");

  state.set({{"gpu0.temp", "91"}, {"gpu0.ecc_dbe", "4"}});
  samples = nvml.sample();
  ASSERT_TRUE(samples.ok());
  EXPECT_THAT(by_index(*samples, 0).temperature_c, Optional(91));
  EXPECT_THAT(by_index(*samples, 0).ecc_double_bit_volatile, Optional(uint64_t{4}));
}

TEST(GpuNvmlTest, NotSupportedLeavesTheFieldEmptyAndIsNoError) {
  auto kv = two_gpus();
  kv["gpu0.fail.nvmlDeviceGetTotalEccErrors"] = "NOT_SUPPORTED";
  kv["gpu0.fail.nvmlDeviceGetPowerUsage"] = "NVML_ERROR_NOT_SUPPORTED";
  FakeNvmlState state(kv);
  NvmlProvider nvml(fake_options());
  auto samples = nvml.sample();
  ASSERT_TRUE(samples.ok()) << samples.error().describe();
  const GpuSample& s = by_index(*samples, 0);
  EXPECT_EQ(s.ecc_double_bit_volatile, std::nullopt);
  EXPECT_EQ(s.power_w, std::nullopt);
  EXPECT_THAT(s.temperature_c, Optional(64));
  EXPECT_FALSE(s.lost);
  EXPECT_EQ(s.error, "");
  EXPECT_THAT(by_index(*samples, 1).ecc_double_bit_volatile, Optional(uint64_t{0}));

  auto notices = nvml.take_notices();
  EXPECT_THAT(notices, Contains(AllOf(HasSubstr("GPU-aaaaaaaa-0000"),
                                      HasSubstr("nvmlDeviceGetTotalEccErrors is not supported"))));
  EXPECT_EQ(notices.size(), 2u);
  ASSERT_TRUE(nvml.sample().ok());
  EXPECT_THAT(nvml.take_notices(), IsEmpty());  // said once
}

TEST(GpuNvmlTest, OtherNvmlErrorsAreReportedPerFieldAndTheRestIsRead) {
  auto kv = two_gpus();
  kv["gpu0.fail.nvmlDeviceGetTemperature"] = "UNKNOWN";
  FakeNvmlState state(kv);
  NvmlProvider nvml(fake_options());
  auto samples = nvml.sample();
  ASSERT_TRUE(samples.ok()) << samples.error().describe();
  const GpuSample& s = by_index(*samples, 0);
  EXPECT_EQ(s.temperature_c, std::nullopt);
  EXPECT_EQ(s.error, "nvmlDeviceGetTemperature: Unknown Error (NVML_ERROR_UNKNOWN)");
  EXPECT_FALSE(s.lost);
  EXPECT_THAT(s.utilization_pct, Optional(87));
  EXPECT_THAT(s.ecc_double_bit_volatile, Optional(uint64_t{3}));
  EXPECT_EQ(by_index(*samples, 1).error, "");
}

TEST(GpuNvmlTest, GpuIsLostMarksTheGpuLostAndKeepsItsIdentity) {
  FakeNvmlState state(two_gpus());
  NvmlProvider nvml(fake_options());
  ASSERT_TRUE(nvml.discover().ok());

  state.set("gpu1.lost", "1");
  auto samples = nvml.sample();
  ASSERT_TRUE(samples.ok()) << samples.error().describe();
  const GpuSample& lost = by_index(*samples, 1);
  EXPECT_TRUE(lost.lost);
  EXPECT_EQ(lost.uuid, "GPU-bbbbbbbb-1111");
  EXPECT_THAT(lost.error, HasSubstr("NVML_ERROR_GPU_IS_LOST"));
  EXPECT_EQ(lost.temperature_c, std::nullopt);
  EXPECT_FALSE(by_index(*samples, 0).lost);

  // Rediscovery cannot read the UUID of a lost GPU: it keeps the one it knew.
  auto gpus = nvml.discover();
  ASSERT_TRUE(gpus.ok()) << gpus.error().describe();
  ASSERT_EQ(gpus->size(), 2u);
  EXPECT_TRUE((*gpus)[1].lost);
  EXPECT_EQ((*gpus)[1].uuid, "GPU-bbbbbbbb-1111");
  EXPECT_EQ((*gpus)[1].pci_bus_id, "00000000:2A:00.0");
  EXPECT_THAT(nvml.take_notices(), Contains(HasSubstr("GPU is lost")));

  state.set("gpu1.lost", "0");
  gpus = nvml.discover();
  ASSERT_TRUE(gpus.ok());
  EXPECT_FALSE((*gpus)[1].lost);
  samples = nvml.sample();
  ASSERT_TRUE(samples.ok());
  EXPECT_FALSE(by_index(*samples, 1).lost);
}

TEST(GpuNvmlTest, GpuThatVanishesIsReportedLost) {
  FakeNvmlState state(two_gpus());
  NvmlProvider nvml(fake_options());
  ASSERT_TRUE(nvml.discover().ok());

  state.set("gpu0.removed", "1");
  auto samples = nvml.sample();
  ASSERT_TRUE(samples.ok()) << samples.error().describe();
  EXPECT_TRUE(by_index(*samples, 0).lost);
  EXPECT_FALSE(by_index(*samples, 1).lost);

  auto gpus = nvml.discover();
  ASSERT_TRUE(gpus.ok()) << gpus.error().describe();
  ASSERT_EQ(gpus->size(), 2u);  // the survivor, now index 0, and the vanished GPU
  EXPECT_EQ((*gpus)[0].uuid, "GPU-bbbbbbbb-1111");
  EXPECT_FALSE((*gpus)[0].lost);
  EXPECT_EQ((*gpus)[1].uuid, "GPU-aaaaaaaa-0000");
  EXPECT_TRUE((*gpus)[1].lost);

  samples = nvml.sample();
  ASSERT_TRUE(samples.ok());
  ASSERT_EQ(samples->size(), 2u);
  EXPECT_EQ((*samples)[1].uuid, "GPU-aaaaaaaa-0000");
  EXPECT_TRUE((*samples)[1].lost);
  EXPECT_THAT((*samples)[1].error, HasSubstr("no longer listed by NVML"));
}

TEST(GpuNvmlTest, HandleLostAtDiscoveryStillListsTheOtherGpus) {
  auto kv = two_gpus();
  kv["gpu0.fail.nvmlDeviceGetHandleByIndex_v2"] = "GPU_IS_LOST";
  FakeNvmlState state(kv);
  NvmlProvider nvml(fake_options());
  auto gpus = nvml.discover();
  ASSERT_TRUE(gpus.ok()) << gpus.error().describe();
  ASSERT_EQ(gpus->size(), 2u);
  EXPECT_TRUE((*gpus)[0].lost);
  EXPECT_EQ((*gpus)[0].uuid, "");  // never seen: no identity to keep
  EXPECT_EQ((*gpus)[1].uuid, "GPU-bbbbbbbb-1111");
  EXPECT_THAT((*gpus)[1].nvlink_peers, IsEmpty());  // its peer is unreadable
  auto samples = nvml.sample();
  ASSERT_TRUE(samples.ok());
  EXPECT_TRUE(by_index(*samples, 0).lost);
  EXPECT_THAT(by_index(*samples, 0).error, HasSubstr("nvmlDeviceGetHandleByIndex_v2"));
  EXPECT_THAT(by_index(*samples, 1).temperature_c, Optional(40));
}

TEST(GpuNvmlTest, XidEventArrivesThroughTheEventThread) {
  FakeNvmlState state(two_gpus());
  ManualClock clock;
  NvmlOptions o = fake_options();
  o.clock = &clock;
  NvmlProvider nvml(o);
  ASSERT_TRUE(nvml.discover().ok());
  ASSERT_TRUE(nvml.watching_xids());
  EXPECT_THAT(nvml.drain_xids(), IsEmpty());

  state.add_xid(1, 79);
  auto xids = nvml.wait_xids(kBoundedWait);
  ASSERT_EQ(xids.size(), 1u);
  EXPECT_EQ(xids[0].xid, 79u);
  EXPECT_EQ(xids[0].uuid, "GPU-bbbbbbbb-1111");
  EXPECT_EQ(xids[0].index, 1);
  EXPECT_EQ(xids[0].time, clock.now());

  state.add_xid(0, 48);
  state.add_xid(0, 31);
  std::vector<XidEvent> all;
  auto deadline = std::chrono::steady_clock::now() + kBoundedWait;
  while (all.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    for (auto& x : nvml.wait_xids(kBoundedWait))
      all.push_back(std::move(x));
  }
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].xid, 48u);
  EXPECT_EQ(all[1].xid, 31u);
  EXPECT_EQ(all[1].uuid, "GPU-aaaaaaaa-0000");
}

TEST(GpuNvmlTest, GpuWithoutXidSupportIsSkippedWithANotice) {
  auto kv = two_gpus();
  kv["gpu1.events"] = "0x3";  // ECC events only
  FakeNvmlState state(kv);
  NvmlProvider nvml(fake_options());
  ASSERT_TRUE(nvml.discover().ok());
  EXPECT_TRUE(nvml.watching_xids());  // gpu0 still reports
  EXPECT_THAT(nvml.take_notices(), ElementsAre(AllOf(HasSubstr("GPU-bbbbbbbb-1111"),
                                                     HasSubstr("does not report XID events"))));
}

TEST(GpuNvmlTest, MissingLibraryIsAClearErrorAndTheProviderKeepsWorking) {
  NvmlProvider nvml(fake_options("/nonexistent/gpufleet/libnvidia-ml.so.1"));
  auto gpus = nvml.discover();
  ASSERT_FALSE(gpus.ok());
  EXPECT_EQ(gpus.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(
      gpus.error().message,
      AllOf(HasSubstr("cannot load the NVML library /nonexistent/gpufleet/libnvidia-ml.so.1"),
            HasSubstr("No such file or directory"), HasSubstr("NVIDIA driver")));
  auto samples = nvml.sample();
  ASSERT_FALSE(samples.ok());
  EXPECT_THAT(samples.error().message, HasSubstr("cannot load"));
  EXPECT_THAT(nvml.drain_xids(), IsEmpty());
  EXPECT_FALSE(nvml.watching_xids());
}

TEST(GpuNvmlTest, ALibraryThatIsNotNvmlIsRejected) {
  NvmlProvider nvml(fake_options("libm.so.6"));
  auto gpus = nvml.discover();
  ASSERT_FALSE(gpus.ok());
  EXPECT_THAT(gpus.error().message, HasSubstr("libm.so.6 does not export nvmlInit_v2"));
}

TEST(GpuNvmlTest, InitFailureNamesTheCallAndARetryRecovers) {
  auto kv = two_gpus();
  kv["init"] = "DRIVER_NOT_LOADED";
  FakeNvmlState state(kv);
  NvmlProvider nvml(fake_options());
  auto gpus = nvml.discover();
  ASSERT_FALSE(gpus.ok());
  EXPECT_EQ(gpus.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(gpus.error().message,
              AllOf(HasSubstr("nvmlInit_v2: Driver Not Loaded (NVML_ERROR_DRIVER_NOT_LOADED)"),
                    HasSubstr("kernel driver is not running")));

  state.erase("init");  // the driver came up
  gpus = nvml.discover();
  ASSERT_TRUE(gpus.ok()) << gpus.error().describe();
  EXPECT_EQ(gpus->size(), 2u);
}

TEST(GpuNvmlTest, CountFailureIsAnError) {
  auto kv = two_gpus();
  kv["fail.nvmlDeviceGetCount_v2"] = "UNKNOWN";
  FakeNvmlState state(kv);
  NvmlProvider nvml(fake_options());
  auto gpus = nvml.discover();
  ASSERT_FALSE(gpus.ok());
  EXPECT_THAT(gpus.error().message,
              HasSubstr("cannot count GPUs: nvmlDeviceGetCount_v2: Unknown Error"));
}

TEST(GpuNvmlTest, MemoryV2VersionMismatchFallsBackToV1) {
  auto kv = two_gpus();
  kv["gpu0.fail.nvmlDeviceGetMemoryInfo_v2"] = "ARGUMENT_VERSION_MISMATCH";
  kv["gpu1.fail.nvmlDeviceGetMemoryInfo_v2"] = "ARGUMENT_VERSION_MISMATCH";
  FakeNvmlState state(kv);
  NvmlProvider nvml(fake_options());
  auto gpus = nvml.discover();
  ASSERT_TRUE(gpus.ok());
  EXPECT_EQ((*gpus)[0].memory_total, Bytes(85520809984));
  auto samples = nvml.sample();
  ASSERT_TRUE(samples.ok());
  // v1 counts the reserved memory as used.
  EXPECT_THAT(by_index(*samples, 0).memory_used, Optional(Bytes(1073741824 + 536870912)));
  EXPECT_EQ(by_index(*samples, 0).error, "");
}

TEST(GpuNvmlTest, DeprecatedTemperatureCallMovesToTemperatureV) {
  auto kv = two_gpus();
  kv["gpu0.fail.nvmlDeviceGetTemperature"] = "DEPRECATED";
  FakeNvmlState state(kv);
  NvmlProvider nvml(fake_options());
  auto samples = nvml.sample();
  ASSERT_TRUE(samples.ok());
  EXPECT_THAT(by_index(*samples, 0).temperature_c, Optional(64));
  EXPECT_THAT(by_index(*samples, 1).temperature_c, Optional(40));
  EXPECT_EQ(by_index(*samples, 0).error, "");
}

TEST(GpuNvmlTest, MinimalLibraryReportsMissingFunctionsAndTheRestWorks) {
  FakeNvmlState state(two_gpus());
  NvmlProvider nvml(fake_options(testing::fake_nvml_minimal_library()));
  auto gpus = nvml.discover();  // through nvmlInit, nvmlDeviceGetCount, ...HandleByIndex
  ASSERT_TRUE(gpus.ok()) << gpus.error().describe();
  ASSERT_EQ(gpus->size(), 2u);
  EXPECT_EQ((*gpus)[0].uuid, "GPU-aaaaaaaa-0000");
  EXPECT_EQ((*gpus)[0].memory_total, Bytes(85520809984));
  EXPECT_THAT((*gpus)[0].nvlink_peers, IsEmpty());
  EXPECT_FALSE(nvml.watching_xids());

  auto missing = nvml.missing_functions();
  EXPECT_THAT(missing, Contains("nvmlDeviceGetPowerUsage"));
  EXPECT_THAT(missing, Contains("nvmlDeviceGetCurrentClocksEventReasons"));
  EXPECT_THAT(missing, Contains("nvmlEventSetWait_v2"));
  auto notices = nvml.take_notices();
  EXPECT_THAT(notices, Contains(AllOf(HasSubstr("does not export nvmlDeviceGetPowerUsage"),
                                      HasSubstr("power draw will not be reported"))));
  EXPECT_THAT(notices, Contains(HasSubstr("XID events will not be reported")));
  // GPU 1 is in MIG mode, and this library cannot list MIG devices: said, and it takes no work.
  EXPECT_THAT(notices, Contains(AllOf(HasSubstr("GPU 1"), HasSubstr("MIG mode"),
                                      HasSubstr("cannot be listed"))));
  EXPECT_TRUE((*gpus)[1].mig_enabled);
  EXPECT_THAT((*gpus)[1].mig_devices, IsEmpty());

  auto samples = nvml.sample();
  ASSERT_TRUE(samples.ok()) << samples.error().describe();
  const GpuSample& s = by_index(*samples, 0);
  EXPECT_EQ(s.power_w, std::nullopt);
  EXPECT_EQ(s.throttle_reasons, std::nullopt);
  EXPECT_THAT(s.temperature_c, Optional(64));  // through nvmlDeviceGetTemperatureV
  EXPECT_THAT(s.utilization_pct, Optional(87));
  EXPECT_THAT(s.memory_used, Optional(Bytes(1073741824 + 536870912)));  // v1
  EXPECT_THAT(s.ecc_double_bit_volatile, Optional(uint64_t{3}));
  EXPECT_EQ(s.error, "");
  EXPECT_THAT(nvml.drain_xids(), IsEmpty());
  EXPECT_THAT(nvml.take_notices(), IsEmpty());  // said once
}

// #16: a GPU in MIG mode is listed with its MIG devices (empty slots skipped), each with the
// UUID CUDA_VISIBLE_DEVICES takes, NVML's name and its own memory.
TEST(GpuNvmlTest, MigDevicesAreDiscoveredWithTheirProfiles) {
  auto kv = two_gpus();
  kv["gpu1.name"] = "NVIDIA A100-SXM4-80GB";
  kv["gpu1.mig_devices"] = "3g.40gb,2g.20gb,2g.20gb";
  FakeNvmlState state(kv);
  NvmlProvider nvml(fake_options());
  auto gpus = nvml.discover();
  ASSERT_TRUE(gpus.ok()) << gpus.error().describe();
  ASSERT_EQ(gpus->size(), 2u);
  EXPECT_FALSE((*gpus)[0].mig_enabled);
  EXPECT_THAT((*gpus)[0].mig_devices, IsEmpty());
  const GpuInfo& g = (*gpus)[1];
  EXPECT_TRUE(g.mig_enabled);
  ASSERT_EQ(g.mig_devices.size(), 3u);
  EXPECT_EQ(g.mig_devices[0].uuid, "MIG-fake-0001-0000-0000-0000-000000000000");
  EXPECT_EQ(g.mig_devices[0].name, "NVIDIA A100-SXM4-80GB MIG 3g.40gb");
  EXPECT_EQ(g.mig_devices[0].memory_total, Bytes(40LL << 30));
  EXPECT_EQ(g.mig_devices[0].gpu_instance_id, 1);
  EXPECT_EQ(g.mig_devices[0].compute_instance_id, 0);
  EXPECT_EQ(g.mig_devices[2].name, "NVIDIA A100-SXM4-80GB MIG 2g.20gb");
  EXPECT_EQ(g.mig_devices[2].memory_total, Bytes(20LL << 30));
  EXPECT_EQ(g.mig_devices[2].gpu_instance_id, 3);
  EXPECT_THAT(nvml.take_notices(), Not(Contains(HasSubstr("MIG"))));
}

TEST(GpuNvmlTest, XidWatchingCanBeTurnedOff) {
  FakeNvmlState state(two_gpus());
  NvmlOptions o = fake_options();
  o.watch_xids = false;
  NvmlProvider nvml(o);
  ASSERT_TRUE(nvml.discover().ok());
  EXPECT_FALSE(nvml.watching_xids());
}

}  // namespace
}  // namespace gf
