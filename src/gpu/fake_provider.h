// FakeProvider: the GPUs of one node of a Cluster manifest, with telemetry that follows a load
// you set and faults you inject. `gpufleet up`, the simulator-backed agent and tests use it; the
// agent's admin endpoint passes fault commands (parse_fault_command) to apply().
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/io/real_clock.h"
#include "common/spec.h"
#include "gpu/gpu_provider.h"

namespace gf {

// One fault-injection request. `gpu` is a UUID or a node-local index ("0", "3").
struct FaultCommand {
  enum class Action {
    kSetLoad,         // value: 0..1, drives utilization, power and temperature
    kSetMemoryUsed,   // bytes: memory in use
    kSetTemperature,  // value: degrees C, held until cleared or restored
    kClearTemperature,
    kRaiseXid,         // value: the XID (79 = fallen off the bus, 48 = DBE, 31 = MMU fault ...)
    kAddEccDoubleBit,  // value: errors to add to the volatile double-bit counter (default 1)
    kFail,             // GPU_IS_LOST: every reading fails, sample().lost = true
    kRemove,           // the GPU vanishes from the device list (reported lost, see gpu_provider.h)
    kRestore,          // undo fail, remove and the temperature override; reset the ECC counter
  };
  std::string gpu;
  Action action = Action::kSetLoad;
  double value = 0.0;
  Bytes bytes{0};
};

const char* to_string(FaultCommand::Action a);

// Parses the admin endpoint's JSON body:
//   {"gpu": "GPU-node-1-0" | 0, "action": "set-temperature", "value": 95}
//   {"gpu": 1, "action": "set-memory-used", "value": "20GiB"}      (or a number of bytes)
// Actions: set-load, set-memory-used, set-temperature, clear-temperature, raise-xid, add-ecc,
// fail, remove, restore ('_' works for '-'). Errors name the field and the accepted values.
Result<FaultCommand> parse_fault_command(std::string_view json);

// The spec of node `node` from Cluster manifests in a YAML file or text, for the fake provider.
Result<NodeSpec> load_node_spec(const std::string& manifest_path, const std::string& node);
Result<NodeSpec> parse_node_spec(std::string_view yaml, const std::string& file,
                                 const std::string& node);

class FakeProvider final : public GpuProvider {
 public:
  // Errors (kInvalidArgument) for a spec the pool would also reject: no GPUs, count < 1, memory
  // <= 0, more than 64 GPUs, a wrong number of UUIDs, an NVLink group naming a missing GPU.
  // `clock` stamps XID events (nullptr = a RealClock) and must outlive the provider.
  static Result<std::unique_ptr<FakeProvider>> create(const NodeSpec& node,
                                                      const Clock* clock = nullptr);

  Result<std::vector<GpuInfo>> discover() override;
  Result<std::vector<GpuSample>> sample() override;
  std::vector<XidEvent> drain_xids() override;
  std::vector<std::string> take_notices() override;
  std::string name() const override { return "fake"; }

  // Fault injection and load; `gpu` is a UUID or a local index. kNotFound for an unknown GPU,
  // kInvalidArgument for a value out of range. Safe to call from any thread.
  Status set_load(const std::string& gpu, double load);
  Status set_memory_used(const std::string& gpu, Bytes used);
  Status set_temperature(const std::string& gpu, std::optional<int> celsius);
  Status raise_xid(const std::string& gpu, uint64_t xid);
  Status add_ecc_double_bit(const std::string& gpu, uint64_t count = 1);
  Status fail(const std::string& gpu);
  Status remove(const std::string& gpu);
  Status restore(const std::string& gpu);
  Status apply(const FaultCommand& command);

  // The telemetry model, exposed so tests can state expectations. Idle and full-load power by
  // model name ("H100" 70..700 W, "A100" 50..400 W, "L40S" 35..350 W, "L4" 16..72 W, others
  // 50..300 W); temperature 30 C idle + 50 C at full load; utilization = load.
  struct PowerRange {
    double idle_w;
    double max_w;
  };
  static PowerRange power_range(const std::string& model);
  static constexpr int kIdleTemperatureC = 30;
  static constexpr int kLoadTemperatureRiseC = 50;

 private:
  struct Gpu {
    GpuInfo info;
    PowerRange power{};
    double load = 0.0;
    Bytes memory_used{0};
    std::optional<int> temperature_override;
    uint64_t ecc_double_bit = 0;
    bool failed = false;
    bool removed = false;
  };

  FakeProvider(std::vector<Gpu> gpus, const Clock* clock);
  Gpu* find(const std::string& gpu);  // mu_ held
  template <class F>
  Status with_gpu(const std::string& gpu, F&& f);

  const Clock* clock_;
  mutable std::mutex mu_;
  std::vector<Gpu> gpus_;
  std::deque<XidEvent> xids_;
  std::vector<std::string> notices_;
};

}  // namespace gf
