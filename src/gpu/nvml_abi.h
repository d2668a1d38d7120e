// The slice of the NVML C ABI gpufleet uses, declared here so that nothing NVIDIA is needed to
// build: types, constants and function-pointer types, copied from NVML's nvml.h (API version 13,
// see ../shared/reference/nvml-abi.md). Layouts must match the driver's exactly; the
// static_asserts below pin them for x86-64 and aarch64 Linux.
//
// The provider resolves these with dlsym; the test-only fake libnvidia-ml (tests/fakes/) defines
// them and checks its definitions against the same pointer types, so both sides agree.
#pragma once

#include <cstdint>

namespace gf::nvml {

// nvmlReturn_t is a C enum: an int on every Linux ABI.
using Return = int;
inline constexpr Return kSuccess = 0;
inline constexpr Return kErrorUninitialized = 1;
inline constexpr Return kErrorInvalidArgument = 2;
inline constexpr Return kErrorNotSupported = 3;
inline constexpr Return kErrorNoPermission = 4;
inline constexpr Return kErrorAlreadyInitialized = 5;
inline constexpr Return kErrorNotFound = 6;
inline constexpr Return kErrorInsufficientSize = 7;
inline constexpr Return kErrorInsufficientPower = 8;
inline constexpr Return kErrorDriverNotLoaded = 9;
inline constexpr Return kErrorTimeout = 10;
inline constexpr Return kErrorIrqIssue = 11;
inline constexpr Return kErrorLibraryNotFound = 12;
inline constexpr Return kErrorFunctionNotFound = 13;
inline constexpr Return kErrorCorruptedInforom = 14;
inline constexpr Return kErrorGpuIsLost = 15;
inline constexpr Return kErrorResetRequired = 16;
inline constexpr Return kErrorOperatingSystem = 17;
inline constexpr Return kErrorLibRmVersionMismatch = 18;
inline constexpr Return kErrorInUse = 19;
inline constexpr Return kErrorMemory = 20;
inline constexpr Return kErrorNoData = 21;
inline constexpr Return kErrorVgpuEccNotSupported = 22;
inline constexpr Return kErrorInsufficientResources = 23;
inline constexpr Return kErrorFreqNotSupported = 24;
inline constexpr Return kErrorArgumentVersionMismatch = 25;
inline constexpr Return kErrorDeprecated = 26;
inline constexpr Return kErrorNotReady = 27;
inline constexpr Return kErrorGpuNotFound = 28;
inline constexpr Return kErrorInvalidState = 29;
inline constexpr Return kErrorResetTypeNotSupported = 30;
inline constexpr Return kErrorUnknown = 999;

struct ReturnName {
  Return code;
  const char* name;  // without the "NVML_ERROR_" prefix
};
inline constexpr ReturnName kReturnNames[] = {
    {0, "SUCCESS"},
    {1, "UNINITIALIZED"},
    {2, "INVALID_ARGUMENT"},
    {3, "NOT_SUPPORTED"},
    {4, "NO_PERMISSION"},
    {5, "ALREADY_INITIALIZED"},
    {6, "NOT_FOUND"},
    {7, "INSUFFICIENT_SIZE"},
    {8, "INSUFFICIENT_POWER"},
    {9, "DRIVER_NOT_LOADED"},
    {10, "TIMEOUT"},
    {11, "IRQ_ISSUE"},
    {12, "LIBRARY_NOT_FOUND"},
    {13, "FUNCTION_NOT_FOUND"},
    {14, "CORRUPTED_INFOROM"},
    {15, "GPU_IS_LOST"},
    {16, "RESET_REQUIRED"},
    {17, "OPERATING_SYSTEM"},
    {18, "LIB_RM_VERSION_MISMATCH"},
    {19, "IN_USE"},
    {20, "MEMORY"},
    {21, "NO_DATA"},
    {22, "VGPU_ECC_NOT_SUPPORTED"},
    {23, "INSUFFICIENT_RESOURCES"},
    {24, "FREQ_NOT_SUPPORTED"},
    {25, "ARGUMENT_VERSION_MISMATCH"},
    {26, "DEPRECATED"},
    {27, "NOT_READY"},
    {28, "GPU_NOT_FOUND"},
    {29, "INVALID_STATE"},
    {30, "RESET_TYPE_NOT_SUPPORTED"},
    {999, "UNKNOWN"},
};

// "GPU_IS_LOST" for 15 (NVML_ERROR_GPU_IS_LOST, NVML_SUCCESS ...), nullptr for an unknown code.
inline const char* return_name(Return rc) {
  for (const auto& r : kReturnNames)
    if (r.code == rc) return r.name;
  return nullptr;
}

// Opaque handles, as upstream declares them.
struct nvmlDevice_st;
struct nvmlEventSet_st;
using Device = nvmlDevice_st*;
using EventSet = nvmlEventSet_st*;

inline constexpr unsigned kDeviceUuidV2BufferSize = 96;
inline constexpr unsigned kDeviceNameV2BufferSize = 96;
inline constexpr unsigned kNvlinkMaxLinks = 36;
inline constexpr unsigned kFeatureEnabled = 1;
inline constexpr int kTemperatureGpu = 0;          // nvmlTemperatureSensors_t
inline constexpr int kMemoryErrorUncorrected = 1;  // nvmlMemoryErrorType_t
inline constexpr int kVolatileEcc = 0;             // nvmlEccCounterType_t
inline constexpr unsigned kDeviceMigEnable = 1;
inline constexpr unsigned long long kEventTypeXidCriticalError = 0x8;
inline constexpr unsigned kEventNoInstance = 0xFFFFFFFFu;  // GI/CI id: the whole GPU

// NVML_STRUCT_VERSION(name, ver) = sizeof(name ## _v ## ver ## _t) | (ver << 24).
constexpr unsigned struct_version(unsigned size, unsigned ver) {
  return size | (ver << 24);
}

struct Memory {  // nvmlMemory_t, bytes
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};

struct MemoryV2 {  // nvmlMemory_v2_t, bytes; `used` excludes the driver's reserved memory
  unsigned int version;
  unsigned long long total;
  unsigned long long reserved;
  unsigned long long free;
  unsigned long long used;
};
inline constexpr unsigned kMemoryV2Version = struct_version(sizeof(MemoryV2), 2);

struct Utilization {  // nvmlUtilization_t, percent
  unsigned int gpu;
  unsigned int memory;
};

struct PciInfo {         // nvmlPciInfo_t
  char busIdLegacy[16];  // "0000:17:00.0"
  unsigned int domain;
  unsigned int bus;
  unsigned int device;
  unsigned int pciDeviceId;
  unsigned int pciSubSystemId;
  char busId[32];  // "00000000:17:00.0"
};

struct TemperatureV1 {  // nvmlTemperature_v1_t, for nvmlDeviceGetTemperatureV
  unsigned int version;
  int sensorType;
  int temperature;
};
inline constexpr unsigned kTemperatureV1Version = struct_version(sizeof(TemperatureV1), 1);

struct EventData {  // nvmlEventData_t
  Device device;
  unsigned long long eventType;
  unsigned long long eventData;  // the XID for XidCriticalError; 999 = unknown
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
};

static_assert(sizeof(Memory) == 24);
static_assert(sizeof(MemoryV2) == 40);
static_assert(sizeof(Utilization) == 8);
static_assert(sizeof(PciInfo) == 68);
static_assert(sizeof(TemperatureV1) == 12);
static_assert(sizeof(EventData) == 8 + 8 + 8 + 4 + 4);

// Function-pointer types, one per entry point, named after the symbol.
using PFN_nvmlInit = Return (*)();
using PFN_nvmlShutdown = Return (*)();
using PFN_nvmlErrorString = const char* (*)(Return);
using PFN_nvmlSystemGetDriverVersion = Return (*)(char*, unsigned int);
using PFN_nvmlDeviceGetCount = Return (*)(unsigned int*);
using PFN_nvmlDeviceGetHandleByIndex = Return (*)(unsigned int, Device*);
using PFN_nvmlDeviceGetName = Return (*)(Device, char*, unsigned int);
using PFN_nvmlDeviceGetUUID = Return (*)(Device, char*, unsigned int);
using PFN_nvmlDeviceGetPciInfo = Return (*)(Device, PciInfo*);
using PFN_nvmlDeviceGetMemoryInfo = Return (*)(Device, Memory*);
using PFN_nvmlDeviceGetMemoryInfo_v2 = Return (*)(Device, MemoryV2*);
using PFN_nvmlDeviceGetMigMode = Return (*)(Device, unsigned int*, unsigned int*);
using PFN_nvmlDeviceGetMaxMigDeviceCount = Return (*)(Device, unsigned int*);
using PFN_nvmlDeviceGetMigDeviceHandleByIndex = Return (*)(Device, unsigned int, Device*);
using PFN_nvmlDeviceGetGpuInstanceId = Return (*)(Device, unsigned int*);
using PFN_nvmlDeviceGetComputeInstanceId = Return (*)(Device, unsigned int*);
using PFN_nvmlDeviceGetNvLinkState = Return (*)(Device, unsigned int, unsigned int*);
using PFN_nvmlDeviceGetNvLinkRemotePciInfo = Return (*)(Device, unsigned int, PciInfo*);
using PFN_nvmlDeviceGetTopologyCommonAncestor = Return (*)(Device, Device, int*);
using PFN_nvmlDeviceGetUtilizationRates = Return (*)(Device, Utilization*);
using PFN_nvmlDeviceGetTemperature = Return (*)(Device, int, unsigned int*);
using PFN_nvmlDeviceGetTemperatureV = Return (*)(Device, TemperatureV1*);
using PFN_nvmlDeviceGetPowerUsage = Return (*)(Device, unsigned int*);
using PFN_nvmlDeviceGetCurrentClocksEventReasons = Return (*)(Device, unsigned long long*);
using PFN_nvmlDeviceGetTotalEccErrors = Return (*)(Device, int, int, unsigned long long*);
using PFN_nvmlEventSetCreate = Return (*)(EventSet*);
using PFN_nvmlDeviceGetSupportedEventTypes = Return (*)(Device, unsigned long long*);
using PFN_nvmlDeviceRegisterEvents = Return (*)(Device, unsigned long long, EventSet);
using PFN_nvmlEventSetWait = Return (*)(EventSet, EventData*, unsigned int);
using PFN_nvmlEventSetFree = Return (*)(EventSet);

}  // namespace gf::nvml
