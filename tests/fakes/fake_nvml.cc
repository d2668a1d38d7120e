// A fake libnvidia-ml.so.1 for tests and benchmarks: the NVML entry points gpufleet uses, serving
// GPU state from a key=value file named by $FAKE_NVML_STATE, so NvmlProvider's real dlopen path
// runs in CI without a GPU. The format is documented in docs/gpu.md; in short:
//
//   count=2                       GPUs (slots 0..count-1)
//   init=DRIVER_NOT_LOADED        what nvmlInit returns (a name or a number); default SUCCESS
//   fail.nvmlDeviceGetCount_v2=UNKNOWN        force a return code for a function, all GPUs
//   gpu0.uuid=GPU-...  gpu0.name=...  gpu0.pci=00000000:17:00.0  gpu0.memory_total=<bytes>
//   gpu0.memory_used=<bytes>  gpu0.memory_reserved=<bytes>  gpu0.util=50  gpu0.mem_util=20
//   gpu0.temp=45  gpu0.power_mw=250000  gpu0.throttle=0x20  gpu0.ecc_dbe=3  gpu0.mig=1
//   gpu0.mig_devices=3g.40gb,2g.20gb   MIG devices (with gpu0.mig=1), named and sized by profile
//   gpu0.nvlink=1,1,switch        one entry per active link: a peer slot or "switch"
//   gpu0.numa=0                   topology: same NUMA node = NODE, else SYSTEM
//   gpu0.events=0xb               supported event types (default 0xb: SBE, DBE, XID)
//   gpu0.lost=1                   every call on the GPU returns GPU_IS_LOST
//   gpu0.removed=1                not enumerated any more; old handles return GPU_IS_LOST
//   gpu0.fail.nvmlDeviceGetTemperature=NOT_SUPPORTED   force a code for one GPU and function
//   xid=0:79                      an XID event on slot 0; each xid line is delivered once, in
//                                 order (keep earlier lines when rewriting the file)
//
// The file is re-read when its inode, size, mtime or ctime changes (or on every call with
// FAKE_NVML_RELOAD=always). Built twice: fake_nvml (everything) and fake_nvml_minimal
// (-DFAKE_NVML_MINIMAL: no _v2 entry points, no power, clocks, NVLink, topology, legacy
// temperature or event functions), to test fallbacks and missing functions.
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "gpu/nvml_abi.h"

namespace gf::nvml {
struct nvmlDevice_st {
  int slot;
};
struct nvmlEventSet_st {
  unsigned long long mask[64];
};
}  // namespace gf::nvml

using namespace gf::nvml;  // NOLINT: this file is the NVML ABI

#define FAKE_API extern "C" __attribute__((visibility("default")))

namespace {

constexpr int kMaxGpus = 64;
constexpr int kMigSlots = 7;  // nvmlDeviceGetMaxMigDeviceCount of an A100 or H100

struct Gpu {
  std::string uuid, name, pci;
  unsigned long long memory_total = 80ull << 30;
  unsigned long long memory_used = 0;
  unsigned long long memory_reserved = 0;
  unsigned util = 0, mem_util = 0, temp = 40, power_mw = 100000;
  unsigned long long throttle = 0, ecc_dbe = 0;
  unsigned long long events = 0xb;
  unsigned mig = 0;
  std::vector<std::string> mig_devices;  // profiles, "3g.40gb"
  std::vector<std::string> nvlink;
  int numa = 0;
  bool lost = false, removed = false;
  std::map<std::string, Return> fail;
};

struct Xid {
  int slot;
  unsigned long long xid;
};

struct State {
  int count = 0;
  Return init_rc = kSuccess;
  std::map<std::string, Return> fail;
  Gpu gpus[kMaxGpus];
  std::vector<Xid> xids;
};

struct FileId {
  ino_t ino = 0;
  off_t size = -1;
  timespec mtime{}, ctime{};
  bool operator==(const FileId& o) const {
    return ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
           mtime.tv_nsec == o.mtime.tv_nsec && ctime.tv_sec == o.ctime.tv_sec &&
           ctime.tv_nsec == o.ctime.tv_nsec;
  }
};

std::mutex g_mu;
State g_state;
bool g_have_state = false;
FileId g_file;
std::string g_path;
size_t g_delivered = 0;  // xid lines already delivered
int g_init_count = 0;
nvmlDevice_st g_devices[kMaxGpus] = {};
nvmlDevice_st g_mig_handles[kMaxGpus * kMigSlots] = {};

Return parse_code(const std::string& v) {
  if (v.empty()) return kErrorUnknown;
  if (v[0] >= '0' && v[0] <= '9') return static_cast<Return>(std::strtol(v.c_str(), nullptr, 0));
  std::string name = v.rfind("NVML_ERROR_", 0) == 0 ? v.substr(11) : v;
  if (name == "NVML_SUCCESS") name = "SUCCESS";
  for (const auto& r : kReturnNames)
    if (name == r.name) return r.code;
  return kErrorUnknown;
}

unsigned long long parse_u64(const std::string& v) {
  return std::strtoull(v.c_str(), nullptr, 0);
}

std::vector<std::string> split(const std::string& v, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

void set_gpu_field(Gpu& g, const std::string& field, const std::string& v) {
  if (field == "uuid")
    g.uuid = v;
  else if (field == "name")
    g.name = v;
  else if (field == "pci")
    g.pci = v;
  else if (field == "memory_total")
    g.memory_total = parse_u64(v);
  else if (field == "memory_used")
    g.memory_used = parse_u64(v);
  else if (field == "memory_reserved")
    g.memory_reserved = parse_u64(v);
  else if (field == "util")
    g.util = static_cast<unsigned>(parse_u64(v));
  else if (field == "mem_util")
    g.mem_util = static_cast<unsigned>(parse_u64(v));
  else if (field == "temp")
    g.temp = static_cast<unsigned>(parse_u64(v));
  else if (field == "power_mw")
    g.power_mw = static_cast<unsigned>(parse_u64(v));
  else if (field == "throttle")
    g.throttle = parse_u64(v);
  else if (field == "ecc_dbe")
    g.ecc_dbe = parse_u64(v);
  else if (field == "events")
    g.events = parse_u64(v);
  else if (field == "mig")
    g.mig = static_cast<unsigned>(parse_u64(v));
  else if (field == "mig_devices")
    g.mig_devices = split(v, ',');
  else if (field == "nvlink")
    g.nvlink = split(v, ',');
  else if (field == "numa")
    g.numa = static_cast<int>(parse_u64(v));
  else if (field == "lost")
    g.lost = parse_u64(v) != 0;
  else if (field == "removed")
    g.removed = parse_u64(v) != 0;
  else if (field.rfind("fail.", 0) == 0)
    g.fail[field.substr(5)] = parse_code(v);
  else
    std::fprintf(stderr, "fake_nvml: unknown key gpuN.%s (ignored)\n", field.c_str());
}

void parse(std::istream& in, State& s) {
  for (int i = 0; i < kMaxGpus; ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "GPU-fake-%04d-0000-0000-0000-000000000000", i);
    s.gpus[i].uuid = buf;
    s.gpus[i].name = "Fake NVIDIA GPU";
    std::snprintf(buf, sizeof buf, "%08X:%02X:00.0", 0, 0x10 + i);
    s.gpus[i].pci = buf;
  }
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = trim(line.substr(0, eq));
    std::string v = trim(line.substr(eq + 1));
    if (key == "count") {
      s.count = static_cast<int>(parse_u64(v));
      if (s.count > kMaxGpus) s.count = kMaxGpus;
    } else if (key == "init") {
      s.init_rc = parse_code(v);
    } else if (key.rfind("fail.", 0) == 0) {
      s.fail[key.substr(5)] = parse_code(v);
    } else if (key == "xid") {
      auto parts = split(v, ':');
      if (parts.size() == 2)
        s.xids.push_back({static_cast<int>(parse_u64(parts[0])), parse_u64(parts[1])});
    } else if (key.rfind("gpu", 0) == 0) {
      size_t dot = key.find('.');
      if (dot == std::string::npos) continue;
      int slot = std::atoi(key.substr(3, dot - 3).c_str());
      if (slot < 0 || slot >= kMaxGpus) continue;
      set_gpu_field(s.gpus[slot], key.substr(dot + 1), v);
    } else {
      std::fprintf(stderr, "fake_nvml: unknown key %s (ignored)\n", key.c_str());
    }
  }
}

// Re-reads the state file when it changed. g_mu held.
void reload() {
  const char* path = std::getenv("FAKE_NVML_STATE");
  std::string p = path != nullptr ? path : "";
  const char* mode = std::getenv("FAKE_NVML_RELOAD");
  bool always = mode != nullptr && std::strcmp(mode, "always") == 0;
  FileId id;
  struct stat st {};
  bool exists = !p.empty() && ::stat(p.c_str(), &st) == 0;
  if (exists) {
    id.ino = st.st_ino;
    id.size = st.st_size;
    id.mtime = st.st_mtim;
    id.ctime = st.st_ctim;
  }
  if (!always && g_have_state && p == g_path && id == g_file) return;
  State s;
  if (!exists) {
    s.init_rc = kErrorDriverNotLoaded;  // no state: behave like a machine without the driver
  } else {
    std::ifstream in(p);
    parse(in, s);
  }
  if (p != g_path) g_delivered = 0;
  g_state = std::move(s);
  g_path = p;
  g_file = id;
  g_have_state = true;
}

Return forced(const std::string& fn) {
  auto it = g_state.fail.find(fn);
  return it == g_state.fail.end() ? kSuccess : it->second;
}

// Common entry checks. g_mu held.
Return enter(const char* fn) {
  reload();
  if (g_init_count == 0) return kErrorUninitialized;
  return forced(fn);
}

int slot_of(Device d) {
  if (d < &g_devices[0] || d >= &g_devices[kMaxGpus]) return -1;
  return static_cast<int>(d - &g_devices[0]);
}

Return enter_device(const char* fn, Device d, Gpu** out) {
  if (Return rc = enter(fn); rc != kSuccess) return rc;
  int slot = slot_of(d);
  if (slot < 0) return kErrorInvalidArgument;
  Gpu& g = g_state.gpus[slot];
  if (slot >= g_state.count || g.removed || g.lost) return kErrorGpuIsLost;
  auto it = g.fail.find(fn);
  if (it != g.fail.end()) return it->second;
  *out = &g;
  return kSuccess;
}

#define DEVICE_ENTER(fn_name, device)                                              \
  std::lock_guard lock_(g_mu);                                                     \
  Gpu* g = nullptr;                                                                \
  if (Return rc_ = enter_device(fn_name, device, &g); rc_ != kSuccess) return rc_; \
  (void)g

Return copy_string(const std::string& s, char* buf, unsigned length) {
  if (buf == nullptr) return kErrorInvalidArgument;
  if (s.size() + 1 > length) return kErrorInsufficientSize;
  std::memcpy(buf, s.c_str(), s.size() + 1);
  return kSuccess;
}

void fill_pci(const std::string& bus_id, PciInfo* pci) {
  std::memset(pci, 0, sizeof *pci);
  std::snprintf(pci->busId, sizeof pci->busId, "%s", bus_id.c_str());
  unsigned d = 0, b = 0, dev = 0, f = 0;
  std::sscanf(bus_id.c_str(), "%x:%x:%x.%x", &d, &b, &dev, &f);
  std::snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04X:%02X:%02X.%X", d & 0xFFFF, b, dev,
                f);
  pci->domain = d;
  pci->bus = b;
  pci->device = dev;
  pci->pciDeviceId = 0x233010DE;
}

Return init_impl(const char* fn) {
  std::lock_guard lock(g_mu);
  reload();
  if (Return rc = forced(fn); rc != kSuccess) return rc;
  if (g_state.init_rc != kSuccess) return g_state.init_rc;
  for (int i = 0; i < kMaxGpus; ++i)
    g_devices[i].slot = i;
  ++g_init_count;
  return kSuccess;
}

Return count_impl(const char* fn, unsigned int* count) {
  std::lock_guard lock(g_mu);
  if (Return rc = enter(fn); rc != kSuccess) return rc;
  if (count == nullptr) return kErrorInvalidArgument;
  unsigned n = 0;
  for (int i = 0; i < g_state.count; ++i)
    if (!g_state.gpus[i].removed) ++n;
  *count = n;
  return kSuccess;
}

Return handle_impl(const char* fn, unsigned int index, Device* device) {
  std::lock_guard lock(g_mu);
  if (Return rc = enter(fn); rc != kSuccess) return rc;
  if (device == nullptr) return kErrorInvalidArgument;
  unsigned n = 0;
  for (int i = 0; i < g_state.count; ++i) {
    if (g_state.gpus[i].removed) continue;
    if (n++ == index) {
      auto it = g_state.gpus[i].fail.find(fn);
      if (it != g_state.gpus[i].fail.end()) return it->second;
      *device = &g_devices[i];
      return kSuccess;
    }
  }
  return kErrorInvalidArgument;
}

// ---- MIG devices: handles of their own, answered from their parent's entry ----

struct MigDevice {
  std::string uuid, name;
  unsigned long long memory_total = 0;
  unsigned gpu_instance = 0;
};

MigDevice mig_device(int slot, const Gpu& g, int index) {
  MigDevice m;
  char buf[64];
  std::snprintf(buf, sizeof buf, "MIG-fake-%04d-%04d-0000-0000-000000000000", slot, index);
  m.uuid = buf;
  const std::string& profile = g.mig_devices[static_cast<size_t>(index)];
  m.name = g.name + " MIG " + profile;
  // "3g.40gb": 40 GiB.
  size_t dot = profile.find('.');
  m.memory_total = dot == std::string::npos ? 0 : parse_u64(profile.substr(dot + 1)) << 30;
  m.gpu_instance = static_cast<unsigned>(index) + 1;
  return m;
}

// Runs `f(device)` for a MIG handle, under the lock and the common checks; nullopt when `d` is
// not a MIG handle (the caller then treats it as a GPU).
template <class F>
std::optional<Return> on_mig(const char* fn, Device d, F f) {
  if (d < &g_mig_handles[0] || d >= &g_mig_handles[kMaxGpus * kMigSlots]) return std::nullopt;
  const int k = static_cast<int>(d - &g_mig_handles[0]);
  const int slot = k / kMigSlots, index = k % kMigSlots;
  std::lock_guard lock(g_mu);
  if (Return rc = enter(fn); rc != kSuccess) return rc;
  Gpu& g = g_state.gpus[slot];
  if (slot >= g_state.count || g.removed || g.lost) return kErrorGpuIsLost;
  if (g.mig == 0 || index >= static_cast<int>(g.mig_devices.size())) return kErrorInvalidArgument;
  return f(mig_device(slot, g, index));
}

Return memory_v1(Device device, Memory* memory) {
  if (auto rc = on_mig("nvmlDeviceGetMemoryInfo", device, [&](const MigDevice& m) {
        if (memory == nullptr) return kErrorInvalidArgument;
        *memory = Memory{m.memory_total, m.memory_total, 0};
        return kSuccess;
      }))
    return *rc;
  DEVICE_ENTER("nvmlDeviceGetMemoryInfo", device);
  if (memory == nullptr) return kErrorInvalidArgument;
  memory->total = g->memory_total;
  memory->used = g->memory_used + g->memory_reserved;
  memory->free = g->memory_total > memory->used ? g->memory_total - memory->used : 0;
  return kSuccess;
}

}  // namespace

// ---- the NVML entry points ---------------------------------------------------------------

FAKE_API Return nvmlInit() {
  return init_impl("nvmlInit");
}

FAKE_API Return nvmlShutdown() {
  std::lock_guard lock(g_mu);
  if (g_init_count == 0) return kErrorUninitialized;
  --g_init_count;
  return kSuccess;
}

FAKE_API const char* nvmlErrorString(Return rc) {
  switch (rc) {
    case kSuccess:
      return "Success";
    case kErrorUninitialized:
      return "Uninitialized";
    case kErrorInvalidArgument:
      return "Invalid Argument";
    case kErrorNotSupported:
      return "Not Supported";
    case kErrorNoPermission:
      return "Insufficient Permissions";
    case kErrorNotFound:
      return "Not Found";
    case kErrorInsufficientSize:
      return "Insufficient Size";
    case kErrorDriverNotLoaded:
      return "Driver Not Loaded";
    case kErrorTimeout:
      return "Timeout";
    case kErrorFunctionNotFound:
      return "Function Not Found";
    case kErrorGpuIsLost:
      return "GPU is lost";
    case kErrorArgumentVersionMismatch:
      return "Argument version mismatch";
    default:
      return "Unknown Error";
  }
}

FAKE_API Return nvmlSystemGetDriverVersion(char* version, unsigned int length) {
  std::lock_guard lock(g_mu);
  if (Return rc = enter("nvmlSystemGetDriverVersion"); rc != kSuccess) return rc;
  return copy_string("999.99.99-fake", version, length);
}

FAKE_API Return nvmlDeviceGetCount(unsigned int* count) {
  return count_impl("nvmlDeviceGetCount", count);
}

FAKE_API Return nvmlDeviceGetHandleByIndex(unsigned int index, Device* device) {
  return handle_impl("nvmlDeviceGetHandleByIndex", index, device);
}

FAKE_API Return nvmlDeviceGetName(Device device, char* name, unsigned int length) {
  if (auto rc = on_mig("nvmlDeviceGetName", device,
                       [&](const MigDevice& m) { return copy_string(m.name, name, length); }))
    return *rc;
  DEVICE_ENTER("nvmlDeviceGetName", device);
  return copy_string(g->name, name, length);
}

FAKE_API Return nvmlDeviceGetUUID(Device device, char* uuid, unsigned int length) {
  if (auto rc = on_mig("nvmlDeviceGetUUID", device,
                       [&](const MigDevice& m) { return copy_string(m.uuid, uuid, length); }))
    return *rc;
  DEVICE_ENTER("nvmlDeviceGetUUID", device);
  return copy_string(g->uuid, uuid, length);
}

FAKE_API Return nvmlDeviceGetPciInfo_v3(Device device, PciInfo* pci) {
  DEVICE_ENTER("nvmlDeviceGetPciInfo_v3", device);
  if (pci == nullptr) return kErrorInvalidArgument;
  fill_pci(g->pci, pci);
  return kSuccess;
}

FAKE_API Return nvmlDeviceGetMemoryInfo(Device device, Memory* memory) {
  return memory_v1(device, memory);
}

FAKE_API Return nvmlDeviceGetMigMode(Device device, unsigned int* current, unsigned int* pending) {
  DEVICE_ENTER("nvmlDeviceGetMigMode", device);
  if (current == nullptr || pending == nullptr) return kErrorInvalidArgument;
  *current = *pending = g->mig;
  return kSuccess;
}

FAKE_API Return nvmlDeviceGetUtilizationRates(Device device, Utilization* u) {
  DEVICE_ENTER("nvmlDeviceGetUtilizationRates", device);
  if (u == nullptr) return kErrorInvalidArgument;
  u->gpu = g->util;
  u->memory = g->mem_util;
  return kSuccess;
}

FAKE_API Return nvmlDeviceGetTemperatureV(Device device, TemperatureV1* t) {
  DEVICE_ENTER("nvmlDeviceGetTemperatureV", device);
  if (t == nullptr) return kErrorInvalidArgument;
  if (t->version != kTemperatureV1Version) return kErrorArgumentVersionMismatch;
  if (t->sensorType != kTemperatureGpu) return kErrorInvalidArgument;
  t->temperature = static_cast<int>(g->temp);
  return kSuccess;
}

FAKE_API Return nvmlDeviceGetTotalEccErrors(Device device, int error_type, int counter_type,
                                            unsigned long long* count) {
  DEVICE_ENTER("nvmlDeviceGetTotalEccErrors", device);
  if (count == nullptr) return kErrorInvalidArgument;
  if (error_type != kMemoryErrorUncorrected || counter_type != kVolatileEcc) {
    *count = 0;
    return kSuccess;
  }
  *count = g->ecc_dbe;
  return kSuccess;
}

#ifndef FAKE_NVML_MINIMAL

FAKE_API Return nvmlInit_v2() {
  return init_impl("nvmlInit_v2");
}

FAKE_API Return nvmlDeviceGetCount_v2(unsigned int* count) {
  return count_impl("nvmlDeviceGetCount_v2", count);
}

FAKE_API Return nvmlDeviceGetHandleByIndex_v2(unsigned int index, Device* device) {
  return handle_impl("nvmlDeviceGetHandleByIndex_v2", index, device);
}

FAKE_API Return nvmlDeviceGetMemoryInfo_v2(Device device, MemoryV2* memory) {
  if (auto rc = on_mig("nvmlDeviceGetMemoryInfo_v2", device, [&](const MigDevice& m) {
        if (memory == nullptr) return kErrorInvalidArgument;
        if (memory->version != kMemoryV2Version) return kErrorArgumentVersionMismatch;
        memory->total = memory->free = m.memory_total;
        memory->reserved = memory->used = 0;
        return kSuccess;
      }))
    return *rc;
  DEVICE_ENTER("nvmlDeviceGetMemoryInfo_v2", device);
  if (memory == nullptr) return kErrorInvalidArgument;
  if (memory->version != kMemoryV2Version) return kErrorArgumentVersionMismatch;
  memory->total = g->memory_total;
  memory->reserved = g->memory_reserved;
  memory->used = g->memory_used;
  unsigned long long taken = g->memory_used + g->memory_reserved;
  memory->free = g->memory_total > taken ? g->memory_total - taken : 0;
  return kSuccess;
}

FAKE_API Return nvmlDeviceGetMaxMigDeviceCount(Device device, unsigned int* count) {
  DEVICE_ENTER("nvmlDeviceGetMaxMigDeviceCount", device);
  if (count == nullptr) return kErrorInvalidArgument;
  if (g->mig == 0) return kErrorNotSupported;
  *count = kMigSlots;
  return kSuccess;
}

FAKE_API Return nvmlDeviceGetMigDeviceHandleByIndex(Device device, unsigned int index,
                                                    Device* mig) {
  DEVICE_ENTER("nvmlDeviceGetMigDeviceHandleByIndex", device);
  if (mig == nullptr || index >= static_cast<unsigned>(kMigSlots)) return kErrorInvalidArgument;
  if (g->mig == 0) return kErrorNotSupported;
  if (index >= g->mig_devices.size()) return kErrorNotFound;  // an empty slot
  *mig = &g_mig_handles[slot_of(device) * kMigSlots + static_cast<int>(index)];
  return kSuccess;
}

FAKE_API Return nvmlDeviceGetGpuInstanceId(Device device, unsigned int* id) {
  if (auto rc = on_mig("nvmlDeviceGetGpuInstanceId", device, [&](const MigDevice& m) {
        if (id == nullptr) return kErrorInvalidArgument;
        *id = m.gpu_instance;
        return kSuccess;
      }))
    return *rc;
  return kErrorInvalidArgument;  // not a MIG device
}

FAKE_API Return nvmlDeviceGetComputeInstanceId(Device device, unsigned int* id) {
  if (auto rc = on_mig("nvmlDeviceGetComputeInstanceId", device, [&](const MigDevice&) {
        if (id == nullptr) return kErrorInvalidArgument;
        *id = 0;
        return kSuccess;
      }))
    return *rc;
  return kErrorInvalidArgument;
}

FAKE_API Return nvmlDeviceGetTemperature(Device device, int sensor, unsigned int* temp) {
  DEVICE_ENTER("nvmlDeviceGetTemperature", device);
  if (temp == nullptr || sensor != kTemperatureGpu) return kErrorInvalidArgument;
  *temp = g->temp;
  return kSuccess;
}

FAKE_API Return nvmlDeviceGetPowerUsage(Device device, unsigned int* power) {
  DEVICE_ENTER("nvmlDeviceGetPowerUsage", device);
  if (power == nullptr) return kErrorInvalidArgument;
  *power = g->power_mw;
  return kSuccess;
}

FAKE_API Return nvmlDeviceGetCurrentClocksEventReasons(Device device, unsigned long long* reasons) {
  DEVICE_ENTER("nvmlDeviceGetCurrentClocksEventReasons", device);
  if (reasons == nullptr) return kErrorInvalidArgument;
  *reasons = g->throttle;
  return kSuccess;
}

FAKE_API Return nvmlDeviceGetNvLinkState(Device device, unsigned int link, unsigned int* active) {
  DEVICE_ENTER("nvmlDeviceGetNvLinkState", device);
  if (active == nullptr || link >= kNvlinkMaxLinks) return kErrorInvalidArgument;
  if (g->nvlink.empty()) return kErrorNotSupported;
  if (link >= g->nvlink.size()) return kErrorInvalidArgument;
  *active = kFeatureEnabled;
  return kSuccess;
}

FAKE_API Return nvmlDeviceGetNvLinkRemotePciInfo_v2(Device device, unsigned int link,
                                                    PciInfo* pci) {
  DEVICE_ENTER("nvmlDeviceGetNvLinkRemotePciInfo_v2", device);
  if (pci == nullptr || link >= kNvlinkMaxLinks) return kErrorInvalidArgument;
  if (g->nvlink.empty()) return kErrorNotSupported;
  if (link >= g->nvlink.size()) return kErrorInvalidArgument;
  const std::string& peer = g->nvlink[link];
  if (peer == "switch") {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%08X:%02X:00.0", 0, 0xF0 + (link % 4));
    fill_pci(buf, pci);
  } else {
    int j = std::atoi(peer.c_str());
    if (j < 0 || j >= kMaxGpus) return kErrorUnknown;
    fill_pci(g_state.gpus[j].pci, pci);
  }
  return kSuccess;
}

FAKE_API Return nvmlDeviceGetTopologyCommonAncestor(Device a, Device b, int* level) {
  std::lock_guard lock(g_mu);
  Gpu* ga = nullptr;
  Gpu* gb = nullptr;
  if (Return rc = enter_device("nvmlDeviceGetTopologyCommonAncestor", a, &ga); rc != kSuccess)
    return rc;
  if (Return rc = enter_device("nvmlDeviceGetTopologyCommonAncestor", b, &gb); rc != kSuccess)
    return rc;
  if (level == nullptr) return kErrorInvalidArgument;
  *level = a == b ? 0 : (ga->numa == gb->numa ? 40 : 50);
  return kSuccess;
}

FAKE_API Return nvmlEventSetCreate(EventSet* set) {
  std::lock_guard lock(g_mu);
  if (Return rc = enter("nvmlEventSetCreate"); rc != kSuccess) return rc;
  if (set == nullptr) return kErrorInvalidArgument;
  *set = new nvmlEventSet_st{};
  return kSuccess;
}

FAKE_API Return nvmlDeviceGetSupportedEventTypes(Device device, unsigned long long* types) {
  DEVICE_ENTER("nvmlDeviceGetSupportedEventTypes", device);
  if (types == nullptr) return kErrorInvalidArgument;
  *types = g->events;
  return kSuccess;
}

FAKE_API Return nvmlDeviceRegisterEvents(Device device, unsigned long long types, EventSet set) {
  DEVICE_ENTER("nvmlDeviceRegisterEvents", device);
  if (set == nullptr) return kErrorInvalidArgument;
  if ((types & g->events) != types) return kErrorNotSupported;
  set->mask[slot_of(device)] |= types;
  return kSuccess;
}

FAKE_API Return nvmlEventSetWait_v2(EventSet set, EventData* data, unsigned int timeoutms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutms);
  for (;;) {
    {
      std::lock_guard lock(g_mu);
      if (Return rc = enter("nvmlEventSetWait_v2"); rc != kSuccess) return rc;
      if (set == nullptr || data == nullptr) return kErrorInvalidArgument;
      while (g_delivered < g_state.xids.size()) {
        Xid x = g_state.xids[g_delivered++];
        if (x.slot < 0 || x.slot >= kMaxGpus) continue;
        if ((set->mask[x.slot] & kEventTypeXidCriticalError) == 0) continue;  // not registered
        data->device = &g_devices[x.slot];
        data->eventType = kEventTypeXidCriticalError;
        data->eventData = x.xid;
        data->gpuInstanceId = kEventNoInstance;
        data->computeInstanceId = kEventNoInstance;
        return kSuccess;
      }
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return kErrorTimeout;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(2), deadline - now));
  }
}

FAKE_API Return nvmlEventSetFree(EventSet set) {
  std::lock_guard lock(g_mu);
  if (g_init_count == 0) return kErrorUninitialized;
  delete set;
  return kSuccess;
}

#endif  // FAKE_NVML_MINIMAL

// The definitions must have exactly the types the provider calls them through.
static_assert(std::is_same_v<decltype(&nvmlInit), PFN_nvmlInit>);
static_assert(std::is_same_v<decltype(&nvmlShutdown), PFN_nvmlShutdown>);
static_assert(std::is_same_v<decltype(&nvmlErrorString), PFN_nvmlErrorString>);
static_assert(
    std::is_same_v<decltype(&nvmlSystemGetDriverVersion), PFN_nvmlSystemGetDriverVersion>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetCount), PFN_nvmlDeviceGetCount>);
static_assert(
    std::is_same_v<decltype(&nvmlDeviceGetHandleByIndex), PFN_nvmlDeviceGetHandleByIndex>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetName), PFN_nvmlDeviceGetName>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetUUID), PFN_nvmlDeviceGetUUID>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetPciInfo_v3), PFN_nvmlDeviceGetPciInfo>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetMemoryInfo), PFN_nvmlDeviceGetMemoryInfo>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetMigMode), PFN_nvmlDeviceGetMigMode>);
static_assert(
    std::is_same_v<decltype(&nvmlDeviceGetUtilizationRates), PFN_nvmlDeviceGetUtilizationRates>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetTemperatureV), PFN_nvmlDeviceGetTemperatureV>);
static_assert(
    std::is_same_v<decltype(&nvmlDeviceGetTotalEccErrors), PFN_nvmlDeviceGetTotalEccErrors>);
#ifndef FAKE_NVML_MINIMAL
static_assert(std::is_same_v<decltype(&nvmlInit_v2), PFN_nvmlInit>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetCount_v2), PFN_nvmlDeviceGetCount>);
static_assert(
    std::is_same_v<decltype(&nvmlDeviceGetHandleByIndex_v2), PFN_nvmlDeviceGetHandleByIndex>);
static_assert(
    std::is_same_v<decltype(&nvmlDeviceGetMemoryInfo_v2), PFN_nvmlDeviceGetMemoryInfo_v2>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetTemperature), PFN_nvmlDeviceGetTemperature>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetPowerUsage), PFN_nvmlDeviceGetPowerUsage>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetCurrentClocksEventReasons),
                             PFN_nvmlDeviceGetCurrentClocksEventReasons>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetNvLinkState), PFN_nvmlDeviceGetNvLinkState>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetNvLinkRemotePciInfo_v2),
                             PFN_nvmlDeviceGetNvLinkRemotePciInfo>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetTopologyCommonAncestor),
                             PFN_nvmlDeviceGetTopologyCommonAncestor>);
static_assert(std::is_same_v<decltype(&nvmlEventSetCreate), PFN_nvmlEventSetCreate>);
static_assert(std::is_same_v<decltype(&nvmlDeviceGetSupportedEventTypes),
                             PFN_nvmlDeviceGetSupportedEventTypes>);
static_assert(std::is_same_v<decltype(&nvmlDeviceRegisterEvents), PFN_nvmlDeviceRegisterEvents>);
static_assert(std::is_same_v<decltype(&nvmlEventSetWait_v2), PFN_nvmlEventSetWait>);
static_assert(std::is_same_v<decltype(&nvmlEventSetFree), PFN_nvmlEventSetFree>);
#endif
