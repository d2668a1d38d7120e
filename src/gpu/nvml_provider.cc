#include "gpu/nvml_provider.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <utility>

#include "gpu/nvml_abi.h"

namespace gf {

std::vector<DeviceRef> devices_of(const std::vector<GpuInfo>& gpus) {
  std::vector<DeviceRef> out;
  for (const GpuInfo& g : gpus) {
    if (!g.mig_enabled) {
      out.push_back(DeviceRef{g.uuid, g.name, g.memory_total_mib(), &g});
      continue;
    }
    for (const MigDeviceInfo& m : g.mig_devices)
      out.push_back(DeviceRef{m.uuid, m.name, m.memory_total_mib(), &g});
  }
  return out;
}

std::optional<DeviceRef> find_device(const std::vector<GpuInfo>& gpus, const std::string& uuid) {
  for (DeviceRef& d : devices_of(gpus))
    if (d.uuid == uuid && !d.gpu->lost) return std::move(d);
  return std::nullopt;
}

const char* to_string(TopologyLevel level) {
  switch (level) {
    case TopologyLevel::kUnknown:
      return "unknown";
    case TopologyLevel::kInternal:
      return "internal";
    case TopologyLevel::kSingle:
      return "single-switch";
    case TopologyLevel::kMultiple:
      return "multiple-switches";
    case TopologyLevel::kHostBridge:
      return "host-bridge";
    case TopologyLevel::kNode:
      return "numa-node";
    case TopologyLevel::kSystem:
      return "system";
  }
  return "unknown";
}

namespace {

using nvml::Return;

const Clock& default_clock() {
  static const RealClock clock;
  return clock;
}

// A C string from a fixed buffer that the library may have filled to the last byte.
std::string from_buffer(const char* buf, size_t size) {
  return std::string(buf, strnlen(buf, size));
}

using BusId = std::tuple<unsigned, unsigned, unsigned, unsigned>;  // domain, bus, device, function

// "00000000:17:00.0" or "0000:17:00.0", in either case.
std::optional<BusId> parse_bus_id(const std::string& text) {
  unsigned d = 0, b = 0, dev = 0, f = 0;
  if (std::sscanf(text.c_str(), "%x:%x:%x.%x", &d, &b, &dev, &f) != 4) return std::nullopt;
  return BusId{d, b, dev, f};
}

std::string bus_id_of(const nvml::PciInfo& pci) {
  std::string id = from_buffer(pci.busId, sizeof pci.busId);
  if (id.empty()) id = from_buffer(pci.busIdLegacy, sizeof pci.busIdLegacy);  // pre-v2 layout
  return id;
}

bool is_lost(Return rc) {
  return rc == nvml::kErrorGpuIsLost || rc == nvml::kErrorGpuNotFound;
}

bool is_absent(Return rc) {
  return rc == nvml::kErrorNotSupported || rc == nvml::kErrorFunctionNotFound;
}

TopologyLevel to_level(int v) {
  switch (v) {
    case 0:
    case 10:
    case 20:
    case 30:
    case 40:
    case 50:
      return static_cast<TopologyLevel>(v);
    default:
      return TopologyLevel::kUnknown;
  }
}

// Every entry point gpufleet uses. Each is resolved by its versioned name first, then by older
// names, so one binary works from old drivers to current ones.
struct Api {
  // Required: without these nothing can be listed.
  nvml::PFN_nvmlInit init = nullptr;
  nvml::PFN_nvmlDeviceGetCount get_count = nullptr;
  nvml::PFN_nvmlDeviceGetHandleByIndex handle_by_index = nullptr;
  nvml::PFN_nvmlDeviceGetUUID get_uuid = nullptr;
  // Optional: a missing one empties its fields.
  nvml::PFN_nvmlShutdown shutdown = nullptr;
  nvml::PFN_nvmlErrorString error_string = nullptr;
  nvml::PFN_nvmlSystemGetDriverVersion driver_version = nullptr;
  nvml::PFN_nvmlDeviceGetName get_name = nullptr;
  nvml::PFN_nvmlDeviceGetPciInfo pci_info = nullptr;
  nvml::PFN_nvmlDeviceGetMemoryInfo_v2 memory_v2 = nullptr;
  nvml::PFN_nvmlDeviceGetMemoryInfo memory = nullptr;
  nvml::PFN_nvmlDeviceGetMigMode mig_mode = nullptr;
  nvml::PFN_nvmlDeviceGetMaxMigDeviceCount mig_count = nullptr;
  nvml::PFN_nvmlDeviceGetMigDeviceHandleByIndex mig_handle = nullptr;
  nvml::PFN_nvmlDeviceGetGpuInstanceId gpu_instance_id = nullptr;
  nvml::PFN_nvmlDeviceGetComputeInstanceId compute_instance_id = nullptr;
  nvml::PFN_nvmlDeviceGetNvLinkState nvlink_state = nullptr;
  nvml::PFN_nvmlDeviceGetNvLinkRemotePciInfo nvlink_remote_pci = nullptr;
  nvml::PFN_nvmlDeviceGetTopologyCommonAncestor topology = nullptr;
  nvml::PFN_nvmlDeviceGetUtilizationRates utilization = nullptr;
  nvml::PFN_nvmlDeviceGetTemperature temperature = nullptr;
  nvml::PFN_nvmlDeviceGetTemperatureV temperature_v = nullptr;
  nvml::PFN_nvmlDeviceGetPowerUsage power = nullptr;
  nvml::PFN_nvmlDeviceGetCurrentClocksEventReasons clocks_reasons = nullptr;
  nvml::PFN_nvmlDeviceGetTotalEccErrors total_ecc = nullptr;
  nvml::PFN_nvmlEventSetCreate event_set_create = nullptr;
  nvml::PFN_nvmlDeviceGetSupportedEventTypes supported_events = nullptr;
  nvml::PFN_nvmlDeviceRegisterEvents register_events = nullptr;
  nvml::PFN_nvmlEventSetWait event_wait = nullptr;
  nvml::PFN_nvmlEventSetFree event_set_free = nullptr;

  // The symbol each call site resolved to, for messages ("nvmlInit_v2" or "nvmlInit").
  std::string init_name = "nvmlInit_v2";
  std::string count_name = "nvmlDeviceGetCount_v2";
  std::string handle_name = "nvmlDeviceGetHandleByIndex_v2";
  std::string pci_name = "nvmlDeviceGetPciInfo_v3";
  std::string nvlink_remote_name = "nvmlDeviceGetNvLinkRemotePciInfo_v2";
  std::string event_wait_name = "nvmlEventSetWait_v2";

  bool has_events() const {
    return event_set_create && register_events && event_wait && event_set_free;
  }
};

// dlsym the first of `names` the library exports. Function pointers are copied bit for bit:
// POSIX guarantees dlsym's void* can hold one.
template <class F>
bool resolve(void* lib, F& out, std::initializer_list<const char*> names, std::string* found) {
  for (const char* n : names) {
    void* p = dlsym(lib, n);
    if (p == nullptr) continue;
    static_assert(sizeof(F) == sizeof(void*));
    std::memcpy(&out, &p, sizeof p);
    if (found != nullptr) *found = n;
    return true;
  }
  out = nullptr;
  return false;
}

struct Device {
  GpuInfo info;
  nvml::Device handle = nullptr;  // null for a GPU that vanished
  std::string lost_reason;        // why info.lost is set
};

}  // namespace

struct NvmlProvider::Impl {
  explicit Impl(NvmlOptions o)
      : options(std::move(o)), clock(options.clock ? options.clock : &default_clock()) {}

  NvmlOptions options;
  const Clock* clock;

  // Library and discovery state; discover() and sample() hold it for their whole run.
  mutable std::mutex mu;
  void* lib = nullptr;
  bool initialized = false;
  Api api;
  std::vector<std::string> missing;
  std::string driver_version;
  bool discovered = false;
  std::vector<Device> devices;
  bool memory_v2_usable = true;

  // Notices: each key is reported once.
  std::mutex notice_mu;
  std::vector<std::string> notices;
  std::set<std::string> notice_keys;

  // The XID thread and its queue.
  std::mutex xmu;
  std::condition_variable xcv;
  std::deque<XidEvent> xids;
  uint64_t dropped_xids = 0;
  bool stop = false;
  std::thread thread;
  nvml::EventSet event_set = nullptr;

  ~Impl() {
    std::lock_guard lock(mu);
    stop_events();
    unload();
  }

  void notice(const std::string& key, std::string message) {
    std::lock_guard lock(notice_mu);
    if (!notice_keys.insert(key).second) return;
    notices.push_back(std::move(message));
  }

  // "nvmlDeviceGetTemperature: Unknown Error (NVML_ERROR_UNKNOWN)"
  std::string error_text(const std::string& fn, Return rc) const {
    const char* text = api.error_string != nullptr ? api.error_string(rc) : nullptr;
    const char* name = nvml::return_name(rc);
    std::string code =
        name != nullptr ? fmt::format("NVML_ERROR_{}", name) : fmt::format("NVML error {}", rc);
    if (text == nullptr || *text == '\0') return fmt::format("{}: {}", fn, code);
    return fmt::format("{}: {} ({})", fn, text, code);
  }

  void unload() {
    if (initialized && api.shutdown != nullptr) api.shutdown();
    initialized = false;
    if (lib != nullptr) dlclose(lib);
    lib = nullptr;
    api = Api{};
  }

  Status load() {
    if (initialized) return {};
    const std::string& path = options.library;
    if (lib == nullptr) {
      dlerror();
      lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (lib == nullptr) {
        const char* why = dlerror();
        return make_error(
            ErrorCode::kUnavailable,
            fmt::format("cannot load the NVML library {}: {}. NVML ships with the NVIDIA driver: "
                        "check that the driver is installed and that {} is on the loader path "
                        "(ldconfig -p | grep nvidia-ml)",
                        path, why != nullptr ? why : "unknown dlopen error", path));
      }
      if (Status s = resolve_all(); !s.ok()) {
        dlclose(lib);
        lib = nullptr;
        api = Api{};
        return s;
      }
    }
    Return rc = api.init();
    if (rc != nvml::kSuccess) {
      std::string hint;
      if (rc == nvml::kErrorDriverNotLoaded) hint = "; the NVIDIA kernel driver is not running";
      if (rc == nvml::kErrorNoPermission) hint = "; no permission to open /dev/nvidia*";
      if (rc == nvml::kErrorLibRmVersionMismatch)
        hint =
            "; the library and the kernel driver are different versions (reboot after a driver "
            "upgrade)";
      return make_error(ErrorCode::kUnavailable,
                        fmt::format("{} (from {}){}", error_text(api.init_name, rc), path, hint));
    }
    initialized = true;
    char version[96] = {};
    if (api.driver_version != nullptr &&
        api.driver_version(version, sizeof version) == nvml::kSuccess) {
      driver_version = from_buffer(version, sizeof version);
    }
    return {};
  }

  Status resolve_all() {
    Api a;
    const std::string& path = options.library;
    auto required = [&](auto& fn, std::initializer_list<const char*> names,
                        std::string* found) -> Status {
      if (resolve(lib, fn, names, found)) return {};
      return make_error(ErrorCode::kUnavailable,
                        fmt::format("{} does not export {}: it is not a usable NVML library (or "
                                    "the driver is too old)",
                                    path, *names.begin()));
    };
    if (Status s = required(a.init, {"nvmlInit_v2", "nvmlInit"}, &a.init_name); !s.ok()) return s;
    if (Status s =
            required(a.get_count, {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"}, &a.count_name);
        !s.ok())
      return s;
    if (Status s = required(a.handle_by_index,
                            {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"},
                            &a.handle_name);
        !s.ok())
      return s;
    if (Status s = required(a.get_uuid, {"nvmlDeviceGetUUID"}, nullptr); !s.ok()) return s;

    missing.clear();
    auto optional = [&](auto& fn, std::initializer_list<const char*> names, std::string* found,
                        const char* loses) {
      if (resolve(lib, fn, names, found)) return;
      missing.emplace_back(*names.begin());
      if (loses == nullptr) return;
      std::string also;
      for (auto it = names.begin() + 1; it != names.end(); ++it)
        also += fmt::format(" or {}", *it);
      notice(fmt::format("missing:{}", *names.begin()),
             fmt::format("{} does not export {}{}: {} will not be reported", path, *names.begin(),
                         also, loses));
    };
    optional(a.shutdown, {"nvmlShutdown"}, nullptr, nullptr);
    optional(a.error_string, {"nvmlErrorString"}, nullptr, nullptr);
    optional(a.driver_version, {"nvmlSystemGetDriverVersion"}, nullptr, nullptr);
    optional(a.get_name, {"nvmlDeviceGetName"}, nullptr, "GPU names");
    optional(a.pci_info,
             {"nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2", "nvmlDeviceGetPciInfo"},
             &a.pci_name, "PCI bus ids");
    optional(a.memory_v2, {"nvmlDeviceGetMemoryInfo_v2"}, nullptr, nullptr);  // v1 below suffices
    optional(a.memory, {"nvmlDeviceGetMemoryInfo"}, nullptr,
             a.memory_v2 != nullptr ? nullptr : "memory total, used and free");
    optional(a.mig_mode, {"nvmlDeviceGetMigMode"}, nullptr, "MIG mode");
    // Said only if a GPU is in MIG mode (read_mig_devices): most fleets never use MIG.
    optional(a.mig_count, {"nvmlDeviceGetMaxMigDeviceCount"}, nullptr, nullptr);
    optional(a.mig_handle, {"nvmlDeviceGetMigDeviceHandleByIndex"}, nullptr, nullptr);
    optional(a.gpu_instance_id, {"nvmlDeviceGetGpuInstanceId"}, nullptr, nullptr);
    optional(a.compute_instance_id, {"nvmlDeviceGetComputeInstanceId"}, nullptr, nullptr);
    optional(a.nvlink_state, {"nvmlDeviceGetNvLinkState"}, nullptr, "NVLink peers");
    optional(a.nvlink_remote_pci,
             {"nvmlDeviceGetNvLinkRemotePciInfo_v2", "nvmlDeviceGetNvLinkRemotePciInfo"},
             &a.nvlink_remote_name, "NVLink peers");
    optional(a.topology, {"nvmlDeviceGetTopologyCommonAncestor"}, nullptr, "PCIe topology");
    optional(a.utilization, {"nvmlDeviceGetUtilizationRates"}, nullptr, "utilization");
    optional(a.temperature, {"nvmlDeviceGetTemperature"}, nullptr, nullptr);
    optional(a.temperature_v, {"nvmlDeviceGetTemperatureV"}, nullptr,
             a.temperature != nullptr ? nullptr : "temperature");
    optional(a.power, {"nvmlDeviceGetPowerUsage"}, nullptr, "power draw");
    optional(
        a.clocks_reasons,
        {"nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"},
        nullptr, "clock throttle reasons");
    optional(a.total_ecc, {"nvmlDeviceGetTotalEccErrors"}, nullptr, "ECC double-bit error counts");
    const char* xid_loss = options.watch_xids ? "XID events" : nullptr;
    optional(a.event_set_create, {"nvmlEventSetCreate"}, nullptr, xid_loss);
    optional(a.supported_events, {"nvmlDeviceGetSupportedEventTypes"}, nullptr, nullptr);
    optional(a.register_events, {"nvmlDeviceRegisterEvents"}, nullptr, xid_loss);
    optional(a.event_wait, {"nvmlEventSetWait_v2", "nvmlEventSetWait"}, &a.event_wait_name,
             xid_loss);
    optional(a.event_set_free, {"nvmlEventSetFree"}, nullptr, xid_loss);
    api = std::move(a);
    return {};
  }

  // ---- discovery ---------------------------------------------------------------------------

  // For a discovery call that is not essential: true on success; NOT_SUPPORTED is silent; lost
  // marks the device; anything else is a notice (once per GPU and function).
  bool discovery_ok(Return rc, const std::string& fn, Device& d, const char* what) {
    if (rc == nvml::kSuccess) return true;
    if (is_absent(rc)) return false;
    if (is_lost(rc)) {
      mark_lost(d, error_text(fn, rc));
      return false;
    }
    notice(fmt::format("discover:{}:{}", fn, d.info.index),
           fmt::format("GPU {} ({}): {}: {} unknown", d.info.index, d.info.uuid, error_text(fn, rc),
                       what));
    return false;
  }

  void mark_lost(Device& d, std::string reason) {
    if (d.info.lost) return;
    d.info.lost = true;
    d.lost_reason = std::move(reason);
  }

  const Device* previous_at(int index) const {
    for (const Device& p : devices)
      if (p.info.index == index && p.handle != nullptr) return &p;
    return nullptr;
  }

  Result<std::vector<GpuInfo>> discover_locked() {
    if (Status s = load(); !s.ok()) return s.error();
    unsigned count = 0;
    if (Return rc = api.get_count(&count); rc != nvml::kSuccess) {
      return make_error(ErrorCode::kUnavailable,
                        fmt::format("cannot count GPUs: {}", error_text(api.count_name, rc)));
    }
    stop_events();

    std::vector<Device> found;
    for (unsigned i = 0; i < count; ++i) {
      Device d;
      d.info.index = static_cast<int>(i);
      Return rc = api.handle_by_index(i, &d.handle);
      if (rc == nvml::kSuccess) {
        char uuid[nvml::kDeviceUuidV2BufferSize] = {};
        rc = api.get_uuid(d.handle, uuid, sizeof uuid);
        if (rc == nvml::kSuccess) {
          d.info.uuid = from_buffer(uuid, sizeof uuid);
        } else {
          mark_lost(d, fmt::format("GPU {}: {}", i, error_text("nvmlDeviceGetUUID", rc)));
        }
      } else {
        d.handle = nullptr;
        mark_lost(d, fmt::format("GPU {}: {}", i, error_text(api.handle_name, rc)));
      }
      if (d.info.lost) {
        // Keep what an earlier discovery knew of this index, so the lost GPU keeps its identity.
        if (const Device* p = previous_at(d.info.index)) {
          std::string reason = d.lost_reason;
          d.info = p->info;
          d.info.lost = true;
          d.lost_reason = std::move(reason);
        }
        d.handle = nullptr;
        notice(fmt::format("lost:{}:{}", i, d.info.uuid), d.lost_reason);
        found.push_back(std::move(d));
        continue;
      }
      read_static(d);
      found.push_back(std::move(d));
    }
    read_links(found, count);

    // A GPU seen before and no longer listed has vanished: keep it, lost.
    for (Device& p : devices) {
      if (p.info.uuid.empty()) continue;
      bool present = std::any_of(found.begin(), found.end(),
                                 [&](const Device& f) { return f.info.uuid == p.info.uuid; });
      if (present) continue;
      Device gone = std::move(p);
      gone.handle = nullptr;
      if (!gone.info.lost) {
        gone.info.lost = true;
        gone.lost_reason = fmt::format("GPU {} (index {}, PCI {}) is no longer listed by NVML",
                                       gone.info.uuid, gone.info.index, gone.info.pci_bus_id);
      }
      found.push_back(std::move(gone));
    }
    devices = std::move(found);
    discovered = true;
    start_events();

    std::vector<GpuInfo> out;
    out.reserve(devices.size());
    for (const Device& d : devices)
      out.push_back(d.info);
    return out;
  }

  void read_static(Device& d) {
    nvml::Device h = d.handle;
    if (api.get_name != nullptr) {
      char name[nvml::kDeviceNameV2BufferSize] = {};
      if (discovery_ok(api.get_name(h, name, sizeof name), "nvmlDeviceGetName", d, "name"))
        d.info.name = from_buffer(name, sizeof name);
    }
    if (api.pci_info != nullptr && !d.info.lost) {
      nvml::PciInfo pci{};
      if (discovery_ok(api.pci_info(h, &pci), api.pci_name, d, "PCI bus id"))
        d.info.pci_bus_id = bus_id_of(pci);
    }
    if (!d.info.lost) {
      if (auto m = read_memory(d, nullptr)) d.info.memory_total = Bytes(m->total);
    }
    if (api.mig_mode != nullptr && !d.info.lost) {
      unsigned current = 0, pending = 0;
      if (discovery_ok(api.mig_mode(h, &current, &pending), "nvmlDeviceGetMigMode", d, "MIG mode"))
        d.info.mig_enabled = current == nvml::kDeviceMigEnable;
    }
    if (d.info.mig_enabled && !d.info.lost) read_mig_devices(d);
  }

  // The MIG devices of a GPU in MIG mode, slot by slot; an empty slot is NOT_FOUND. A device
  // whose UUID cannot be read is left out (nothing could address it) with a notice.
  void read_mig_devices(Device& d) {
    if (api.mig_count == nullptr || api.mig_handle == nullptr) {
      notice("missing:mig", fmt::format("GPU {} ({}) is in MIG mode, but {} does not export "
                                        "nvmlDeviceGetMaxMigDeviceCount and "
                                        "nvmlDeviceGetMigDeviceHandleByIndex: its MIG devices "
                                        "cannot be listed, so it takes no work",
                                        d.info.index, d.info.uuid, options.library));
      return;
    }
    unsigned slots = 0;
    if (!discovery_ok(api.mig_count(d.handle, &slots), "nvmlDeviceGetMaxMigDeviceCount", d,
                      "MIG devices"))
      return;
    for (unsigned i = 0; i < slots; ++i) {
      nvml::Device m = nullptr;
      Return rc = api.mig_handle(d.handle, i, &m);
      if (rc == nvml::kErrorNotFound) continue;
      if (!discovery_ok(rc, "nvmlDeviceGetMigDeviceHandleByIndex", d, "MIG devices")) return;
      MigDeviceInfo mig;
      char uuid[nvml::kDeviceUuidV2BufferSize] = {};
      if (!discovery_ok(api.get_uuid(m, uuid, sizeof uuid), "nvmlDeviceGetUUID", d,
                        "a MIG device's UUID"))
        continue;
      mig.uuid = from_buffer(uuid, sizeof uuid);
      if (api.get_name != nullptr) {
        char name[nvml::kDeviceNameV2BufferSize] = {};
        if (discovery_ok(api.get_name(m, name, sizeof name), "nvmlDeviceGetName", d,
                         "a MIG device's name"))
          mig.name = from_buffer(name, sizeof name);
      }
      Device probe;  // read_memory reads through a Device; errors still name the parent
      probe.info = d.info;
      probe.handle = m;
      if (auto mem = read_memory(probe, nullptr)) mig.memory_total = Bytes(mem->total);
      unsigned id = 0;
      if (api.gpu_instance_id != nullptr && api.gpu_instance_id(m, &id) == nvml::kSuccess)
        mig.gpu_instance_id = static_cast<int>(id);
      if (api.compute_instance_id != nullptr && api.compute_instance_id(m, &id) == nvml::kSuccess)
        mig.compute_instance_id = static_cast<int>(id);
      d.info.mig_devices.push_back(std::move(mig));
    }
  }

  // NVLink peers from each active link's remote PCI address; PCIe distance for every pair.
  void read_links(std::vector<Device>& found, unsigned count) {
    std::vector<std::optional<BusId>> bus(found.size());
    for (size_t i = 0; i < found.size(); ++i)
      bus[i] = parse_bus_id(found[i].info.pci_bus_id);
    std::vector<bool> via_switch(found.size(), false);
    // A remote address that is no GPU we know is an NVSwitch, unless some GPU's address is
    // unreadable (lost at discovery): then it may be that GPU, and we claim no switch peers.
    std::vector<BusId> other_gpus;  // GPUs seen by an earlier discovery
    for (const Device& p : devices)
      if (auto id = parse_bus_id(p.info.pci_bus_id)) other_gpus.push_back(*id);
    bool unknown_gpu = std::any_of(found.begin(), found.end(),
                                   [](const Device& d) { return d.info.pci_bus_id.empty(); });

    for (size_t i = 0; i < found.size(); ++i) {
      Device& d = found[i];
      d.info.topology.assign(count, TopologyLevel::kUnknown);
      if (d.info.index < static_cast<int>(count))
        d.info.topology[d.info.index] = TopologyLevel::kInternal;
      if (d.info.lost || api.nvlink_state == nullptr || api.nvlink_remote_pci == nullptr) continue;
      std::set<int> peers;
      for (unsigned link = 0; link < nvml::kNvlinkMaxLinks; ++link) {
        unsigned active = 0;
        Return rc = api.nvlink_state(d.handle, link, &active);
        if (rc == nvml::kErrorInvalidArgument || is_absent(rc)) break;  // past the last link
        if (!discovery_ok(rc, "nvmlDeviceGetNvLinkState", d, "NVLink peers")) break;
        if (active != nvml::kFeatureEnabled) continue;
        nvml::PciInfo remote{};
        rc = api.nvlink_remote_pci(d.handle, link, &remote);
        if (!discovery_ok(rc, api.nvlink_remote_name, d, "NVLink peers")) {
          if (d.info.lost) break;
          continue;
        }
        auto id = parse_bus_id(bus_id_of(remote));
        bool matched = false;
        for (size_t j = 0; j < found.size() && id; ++j) {
          if (bus[j] == id) {
            matched = true;
            if (j != i) peers.insert(found[j].info.index);
          }
        }
        if (!matched && id && !unknown_gpu &&
            std::find(other_gpus.begin(), other_gpus.end(), *id) == other_gpus.end())
          via_switch[i] = true;  // an NVSwitch, not a GPU
      }
      d.info.nvlink_peers.assign(peers.begin(), peers.end());
    }
    // GPUs on NVSwitches reach each other: on one node the switches form one fabric (HGX).
    for (size_t i = 0; i < found.size(); ++i) {
      if (!via_switch[i]) continue;
      auto& peers = found[i].info.nvlink_peers;
      for (size_t j = 0; j < found.size(); ++j)
        if (j != i && via_switch[j]) peers.push_back(found[j].info.index);
      std::sort(peers.begin(), peers.end());
      peers.erase(std::unique(peers.begin(), peers.end()), peers.end());
    }

    if (api.topology == nullptr) return;
    for (size_t i = 0; i < found.size(); ++i) {
      for (size_t j = i + 1; j < found.size(); ++j) {
        Device& a = found[i];
        Device& b = found[j];
        if (a.info.lost || b.info.lost) continue;
        int level = -1;
        Return rc = api.topology(a.handle, b.handle, &level);
        if (rc == nvml::kSuccess) {
          TopologyLevel l = to_level(level);
          if (b.info.index < static_cast<int>(count)) a.info.topology[b.info.index] = l;
          if (a.info.index < static_cast<int>(count)) b.info.topology[a.info.index] = l;
        } else if (!is_absent(rc)) {
          notice("topology",
                 fmt::format("GPUs {} and {}: {}: PCIe topology unknown", a.info.index,
                             b.info.index, error_text("nvmlDeviceGetTopologyCommonAncestor", rc)));
        }
      }
    }
  }

  // ---- sampling ------------------------------------------------------------------------------

  // For a telemetry call: true on success. NOT_SUPPORTED leaves the field empty (one notice per
  // GPU and function); lost marks the sample lost; any other error is added to sample.error.
  bool sample_ok(Return rc, const char* fn, GpuSample& s, const char* what) {
    if (rc == nvml::kSuccess) return true;
    if (is_absent(rc)) {
      notice(fmt::format("unsupported:{}:{}", fn, s.uuid),
             fmt::format("GPU {} ({}): {} is not supported: {} will not be reported", s.index,
                         s.uuid, fn, what));
      return false;
    }
    if (is_lost(rc)) s.lost = true;
    if (!s.error.empty()) s.error += "; ";
    s.error += error_text(fn, rc);
    return false;
  }

  // Memory through the _v2 call when the library has it (its `used` leaves out the driver's
  // reserved memory), through v1 otherwise. Reports errors into `s` when sampling.
  std::optional<nvml::MemoryV2> read_memory(Device& d, GpuSample* s) {
    auto check = [&](Return rc, const char* fn) {
      if (s != nullptr) return sample_ok(rc, fn, *s, "memory use");
      return discovery_ok(rc, fn, d, "memory size");
    };
    if (api.memory_v2 != nullptr && memory_v2_usable) {
      nvml::MemoryV2 m{};
      m.version = nvml::kMemoryV2Version;
      Return rc = api.memory_v2(d.handle, &m);
      if (rc == nvml::kSuccess) return m;
      bool retry_v1 = api.memory != nullptr && (rc == nvml::kErrorArgumentVersionMismatch ||
                                                is_absent(rc) || rc == nvml::kErrorDeprecated);
      if (!retry_v1) {
        check(rc, "nvmlDeviceGetMemoryInfo_v2");
        return std::nullopt;
      }
      memory_v2_usable = false;  // a library-wide property: use v1 from now on
    }
    if (api.memory == nullptr) return std::nullopt;
    nvml::Memory m1{};
    if (!check(api.memory(d.handle, &m1), "nvmlDeviceGetMemoryInfo")) return std::nullopt;
    nvml::MemoryV2 m{};
    m.total = m1.total;
    m.free = m1.free;
    m.used = m1.used;
    return m;
  }

  void read_sample(Device& d, GpuSample& s) {
    nvml::Device h = d.handle;
    if (api.utilization != nullptr) {
      nvml::Utilization u{};
      if (sample_ok(api.utilization(h, &u), "nvmlDeviceGetUtilizationRates", s, "utilization")) {
        s.utilization_pct = static_cast<int>(u.gpu);
        s.memory_utilization_pct = static_cast<int>(u.memory);
      }
      if (s.lost) return;
    }
    if (auto m = read_memory(d, &s)) {
      s.memory_used = Bytes(static_cast<int64_t>(m->used));
      s.memory_free = Bytes(static_cast<int64_t>(m->free));
    }
    if (s.lost) return;
    if (api.temperature != nullptr) {
      unsigned t = 0;
      Return rc = api.temperature(h, nvml::kTemperatureGpu, &t);
      if (rc == nvml::kErrorDeprecated && api.temperature_v != nullptr) {
        api.temperature = nullptr;  // NVML 13 deprecates it: use nvmlDeviceGetTemperatureV
      } else {
        if (sample_ok(rc, "nvmlDeviceGetTemperature", s, "temperature"))
          s.temperature_c = static_cast<int>(t);
        if (s.lost) return;
      }
    }
    if (api.temperature == nullptr && api.temperature_v != nullptr) {
      nvml::TemperatureV1 t{};
      t.version = nvml::kTemperatureV1Version;
      t.sensorType = nvml::kTemperatureGpu;
      if (sample_ok(api.temperature_v(h, &t), "nvmlDeviceGetTemperatureV", s, "temperature"))
        s.temperature_c = t.temperature;
      if (s.lost) return;
    }
    if (api.power != nullptr) {
      unsigned mw = 0;
      if (sample_ok(api.power(h, &mw), "nvmlDeviceGetPowerUsage", s, "power draw"))
        s.power_w = mw / 1000.0;
      if (s.lost) return;
    }
    if (api.clocks_reasons != nullptr) {
      unsigned long long reasons = 0;
      if (sample_ok(api.clocks_reasons(h, &reasons), "nvmlDeviceGetCurrentClocksEventReasons", s,
                    "clock throttle reasons"))
        s.throttle_reasons = reasons;
      if (s.lost) return;
    }
    if (api.total_ecc != nullptr) {
      unsigned long long count = 0;
      if (sample_ok(api.total_ecc(h, nvml::kMemoryErrorUncorrected, nvml::kVolatileEcc, &count),
                    "nvmlDeviceGetTotalEccErrors", s, "ECC double-bit errors"))
        s.ecc_double_bit_volatile = count;
    }
  }

  Result<std::vector<GpuSample>> sample_locked() {
    if (!discovered) {
      auto d = discover_locked();
      if (!d.ok()) return d.error();
    }
    std::vector<GpuSample> out;
    out.reserve(devices.size());
    for (Device& d : devices) {
      GpuSample s;
      s.index = d.info.index;
      s.uuid = d.info.uuid;
      if (d.info.lost) {
        s.lost = true;
        s.error = d.lost_reason;
      } else {
        read_sample(d, s);
      }
      out.push_back(std::move(s));
    }
    return out;
  }

  // ---- XID events ----------------------------------------------------------------------------

  using HandleMap = std::vector<std::pair<nvml::Device, std::pair<int, std::string>>>;

  void start_events() {
    if (!options.watch_xids || !api.has_events()) return;
    nvml::EventSet set = nullptr;
    if (Return rc = api.event_set_create(&set); rc != nvml::kSuccess) {
      notice("event-set", fmt::format("{}: XID events will not be reported",
                                      error_text("nvmlEventSetCreate", rc)));
      return;
    }
    HandleMap handles;
    for (const Device& d : devices) {
      if (d.info.lost || d.handle == nullptr) continue;
      if (api.supported_events != nullptr) {
        unsigned long long types = 0;
        if (api.supported_events(d.handle, &types) == nvml::kSuccess &&
            (types & nvml::kEventTypeXidCriticalError) == 0) {
          notice(fmt::format("xid:{}", d.info.uuid),
                 fmt::format("GPU {} ({}) does not report XID events", d.info.index, d.info.uuid));
          continue;
        }
      }
      Return rc = api.register_events(d.handle, nvml::kEventTypeXidCriticalError, set);
      if (rc == nvml::kSuccess) {
        handles.push_back({d.handle, {d.info.index, d.info.uuid}});
      } else {
        notice(fmt::format("xid:{}", d.info.uuid),
               fmt::format("GPU {} ({}): {}: its XID events will not be reported", d.info.index,
                           d.info.uuid, error_text("nvmlDeviceRegisterEvents", rc)));
      }
    }
    if (handles.empty()) {
      api.event_set_free(set);
      return;
    }
    event_set = set;
    {
      std::lock_guard lock(xmu);
      stop = false;
    }
    thread = std::thread([this, set, h = std::move(handles)] { event_loop(set, h); });
  }

  void stop_events() {
    {
      std::lock_guard lock(xmu);
      stop = true;
    }
    xcv.notify_all();
    if (thread.joinable()) thread.join();
    if (event_set != nullptr) api.event_set_free(event_set);
    event_set = nullptr;
  }

  void event_loop(nvml::EventSet set, const HandleMap& handles) {
    const unsigned wait_ms =
        static_cast<unsigned>(std::max<int64_t>(1, options.event_wait.count()));
    for (;;) {
      {
        std::lock_guard lock(xmu);
        if (stop) return;
      }
      nvml::EventData e{};
      Return rc = api.event_wait(set, &e, wait_ms);
      if (rc == nvml::kErrorTimeout) continue;  // normal: nothing happened
      if (rc == nvml::kSuccess) {
        if ((e.eventType & nvml::kEventTypeXidCriticalError) == 0) continue;
        XidEvent x;
        x.xid = e.eventData;
        x.time = clock->now();
        x.index = -1;
        for (const auto& [handle, id] : handles) {
          if (handle == e.device) {
            x.index = id.first;
            x.uuid = id.second;
          }
        }
        push_xid(std::move(x));
        continue;
      }
      // GPU_IS_LOST on a registered GPU, or a driver problem: say so once, back off, keep going.
      notice(fmt::format("wait:{}", rc),
             fmt::format("{}: XID events may be missed while this lasts",
                         error_text(api.event_wait_name, rc)));
      std::unique_lock lock(xmu);
      xcv.wait_for(lock, options.event_wait, [&] { return stop; });
    }
  }

  void push_xid(XidEvent x) {
    {
      std::lock_guard lock(xmu);
      xids.push_back(std::move(x));
      while (xids.size() > std::max<size_t>(1, options.max_queued_xids)) {
        xids.pop_front();
        ++dropped_xids;
      }
    }
    xcv.notify_all();
  }
};

NvmlProvider::NvmlProvider(NvmlOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

NvmlProvider::~NvmlProvider() = default;

Result<std::vector<GpuInfo>> NvmlProvider::discover() {
  std::lock_guard lock(impl_->mu);
  return impl_->discover_locked();
}

Result<std::vector<GpuSample>> NvmlProvider::sample() {
  std::lock_guard lock(impl_->mu);
  return impl_->sample_locked();
}

std::vector<XidEvent> NvmlProvider::drain_xids() {
  return wait_xids(std::chrono::milliseconds(0));
}

std::vector<XidEvent> NvmlProvider::wait_xids(std::chrono::milliseconds timeout) {
  uint64_t dropped = 0;
  std::vector<XidEvent> out;
  {
    std::unique_lock lock(impl_->xmu);
    if (timeout.count() > 0)
      impl_->xcv.wait_for(lock, timeout, [&] { return !impl_->xids.empty(); });
    out.assign(std::make_move_iterator(impl_->xids.begin()),
               std::make_move_iterator(impl_->xids.end()));
    impl_->xids.clear();
    dropped = std::exchange(impl_->dropped_xids, 0);
  }
  if (dropped > 0) {
    std::lock_guard lock(impl_->notice_mu);
    impl_->notices.push_back(
        fmt::format("{} XID events were dropped: more than {} arrived between two drains", dropped,
                    impl_->options.max_queued_xids));
  }
  return out;
}

std::vector<std::string> NvmlProvider::take_notices() {
  std::lock_guard lock(impl_->notice_mu);
  return std::exchange(impl_->notices, {});
}

std::vector<std::string> NvmlProvider::missing_functions() const {
  std::lock_guard lock(impl_->mu);
  return impl_->missing;
}

bool NvmlProvider::watching_xids() const {
  std::lock_guard lock(impl_->mu);
  return impl_->thread.joinable();
}

std::string NvmlProvider::driver_version() const {
  std::lock_guard lock(impl_->mu);
  return impl_->driver_version;
}

}  // namespace gf
