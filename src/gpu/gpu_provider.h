// GpuProvider: where the agent learns which GPUs a node has (discover) and how they are doing
// (sample, drain_xids). Two providers: NVML loaded with dlopen at run time (nvml_provider.h) and a
// fake driven by the Cluster manifest and fault injection (fake_provider.h).
//
// Rules every provider follows:
// - A feature the GPU or driver does not have (NVML_ERROR_NOT_SUPPORTED, or a function the library
//   does not export) leaves that field empty (std::nullopt). It is not a fault.
// - A GPU that fell off the bus (NVML_ERROR_GPU_IS_LOST), or that was discovered once and is no
//   longer listed, is reported with lost = true, never dropped silently.
// - Nothing throws or aborts on a driver problem: whole-call failures are Errors, per-GPU failures
//   are GpuSample::error, and conditions worth one log line are returned once by take_notices().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/units.h"

namespace gf {

// NVML's nvmlGpuTopologyLevel_t values: how far apart two GPUs are on the PCIe tree.
enum class TopologyLevel : int {
  kUnknown = -1,
  kInternal = 0,     // same board (multi-GPU card)
  kSingle = 10,      // one PCIe switch between them
  kMultiple = 20,    // several PCIe switches, no host bridge
  kHostBridge = 30,  // same host bridge
  kNode = 40,        // same NUMA node, different host bridges
  kSystem = 50,      // across the CPU interconnect (SMP / UPI)
};
const char* to_string(TopologyLevel level);

// One MIG device (a GPU instance with a compute instance) of a GPU in MIG mode: the unit an
// engine runs on there. NVML names it after its parent and profile ("NVIDIA A100-SXM4-80GB MIG
// 3g.40gb"); CUDA_VISIBLE_DEVICES takes its UUID.
struct MigDeviceInfo {
  std::string uuid;  // "MIG-..."
  std::string name;
  Bytes memory_total{0};
  int gpu_instance_id = -1;  // -1: not reported
  int compute_instance_id = -1;

  MiB memory_total_mib() const { return to_mib_floor(memory_total); }
};

// What discovery reports about one GPU. Static for the life of the process, except `lost`.
struct GpuInfo {
  int index = 0;     // as CUDA_VISIBLE_DEVICES counts (NVML index); for a lost GPU, as last seen
  std::string uuid;  // "GPU-8f6c..."; the identity the pool keys on
  std::string name;  // "NVIDIA H100 80GB HBM3", or the manifest's model for the fake provider
  Bytes memory_total{0};
  std::string pci_bus_id;  // "00000000:17:00.0"
  bool mig_enabled = false;
  // With MIG on: its MIG devices, which take the work instead of the whole GPU (none configured:
  // the GPU takes no work at all).
  std::vector<MigDeviceInfo> mig_devices;
  std::vector<int> nvlink_peers;        // indices of GPUs reachable over NVLink (or NVSwitch)
  std::vector<TopologyLevel> topology;  // PCIe distance to the GPU of each index; self = kInternal
  bool lost = false;                    // fell off the bus or vanished since an earlier discover()

  MiB memory_total_mib() const { return to_mib_floor(memory_total); }
};

// A device an engine may be given on this node: a GPU not in MIG mode, or a MIG device of one in
// MIG mode, with its product name, its memory and the GPU it is (or is part of).
struct DeviceRef {
  std::string uuid;
  std::string product;
  MiB memory{0};
  const GpuInfo* gpu = nullptr;  // into the vector devices_of() read
};
// Every device of `gpus`, in order, lost GPUs' included (gpu->lost says so). The one rule for
// what a node offers: heartbeats, assignments and gpufleet gpu-check all read it.
std::vector<DeviceRef> devices_of(const std::vector<GpuInfo>& gpus);
// The device `uuid` names, if it is here and its GPU is not lost.
std::optional<DeviceRef> find_device(const std::vector<GpuInfo>& gpus, const std::string& uuid);

// One telemetry reading of one GPU. Each field is empty when the GPU or driver does not report it.
struct GpuSample {
  int index = 0;
  std::string uuid;
  std::optional<int> utilization_pct;  // SM busy, 0..100, over the driver's last sample period
  std::optional<int> memory_utilization_pct;  // memory controller busy, 0..100
  std::optional<Bytes> memory_used;
  std::optional<Bytes> memory_free;
  std::optional<int> temperature_c;
  std::optional<double> power_w;
  // nvmlClocksEventReasons bits (0x1 idle, 0x4 SW power cap, 0x20 SW thermal, 0x40 HW thermal,
  // 0x80 HW power brake ...); 0 = running at full clocks.
  std::optional<uint64_t> throttle_reasons;
  std::optional<uint64_t> ecc_double_bit_volatile;  // uncorrected ECC errors since the last reset
  bool lost = false;  // fell off the bus (GPU_IS_LOST) or vanished: the GPU is unusable
  // Why a reading failed, "" when every reading succeeded or was merely unsupported. Names the
  // NVML function and its error, e.g. "nvmlDeviceGetTemperature: Unknown Error (999)".
  std::string error;
};

// An XID error the driver reported (e.g. 79 = fallen off the bus, 48 = double-bit ECC error).
struct XidEvent {
  int index = 0;
  std::string uuid;
  uint64_t xid = 0;
  TimePoint time{};  // when the provider received it, on the provider's Clock
};

class GpuProvider {
 public:
  virtual ~GpuProvider() = default;

  // Lists the node's GPUs. Fails only when nothing can be listed at all (library missing, driver
  // not loaded); the error then says what failed and what to check.
  virtual Result<std::vector<GpuInfo>> discover() = 0;

  // Reads telemetry of every GPU from the last discover() (which it runs first if needed). One
  // entry per GPU, in discovery order; lost GPUs included.
  virtual Result<std::vector<GpuSample>> sample() = 0;

  // XID events received since the last call, oldest first.
  virtual std::vector<XidEvent> drain_xids() = 0;

  // Messages about conditions that make data absent but are not faults (a function the library
  // does not export, event registration not supported ...), each returned once, so the agent logs
  // each one once.
  virtual std::vector<std::string> take_notices() = 0;

  // "nvml" or "fake".
  virtual std::string name() const = 0;
};

}  // namespace gf
