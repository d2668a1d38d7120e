// NvmlProvider: GPU discovery and telemetry through NVML, loaded with dlopen at run time, so the
// binary builds and starts on machines without the NVIDIA driver. See docs/gpu.md for which NVML
// call feeds which field and how each NVML error is treated.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/io/real_clock.h"
#include "gpu/gpu_provider.h"

namespace gf {

struct NvmlOptions {
  // dlopen name or path. The default is the driver's versioned soname (never the unversioned
  // libnvidia-ml.so, which only the CUDA toolkit's stubs provide).
  std::string library = "libnvidia-ml.so.1";
  // Receive XID events on a thread of their own (nvmlEventSetWait_v2).
  bool watch_xids = true;
  // How long one nvmlEventSetWait_v2 blocks: also how long the destructor may wait for the thread.
  std::chrono::milliseconds event_wait{500};
  // XID events kept until drained; beyond it the oldest are dropped (with a notice).
  size_t max_queued_xids = 4096;
  // Stamps XID events. nullptr = a RealClock. Must outlive the provider.
  const Clock* clock = nullptr;
};

class NvmlProvider final : public GpuProvider {
 public:
  explicit NvmlProvider(NvmlOptions options = {});
  ~NvmlProvider() override;  // stops the event thread, frees the event set, nvmlShutdown, dlclose
  NvmlProvider(const NvmlProvider&) = delete;
  NvmlProvider& operator=(const NvmlProvider&) = delete;

  // Loads the library and runs nvmlInit on first use (and again after a failure, so a driver
  // installed later is picked up). Errors: kUnavailable naming the library and dlerror() text,
  // the missing required function, or the failing NVML call and its error.
  Result<std::vector<GpuInfo>> discover() override;
  Result<std::vector<GpuSample>> sample() override;
  std::vector<XidEvent> drain_xids() override;
  std::vector<std::string> take_notices() override;
  std::string name() const override { return "nvml"; }

  // Blocks until at least one XID event is queued or `timeout` passes, then drains the queue.
  std::vector<XidEvent> wait_xids(std::chrono::milliseconds timeout);

  // Optional entry points the loaded library lacks (e.g. "nvmlDeviceGetPowerUsage"); their fields
  // are always empty. Empty before the library is loaded.
  std::vector<std::string> missing_functions() const;
  // Whether the XID event thread is running (false when watch_xids is off, or the library has no
  // event functions, or no GPU accepted XID registration).
  bool watching_xids() const;
  // The driver version nvmlSystemGetDriverVersion reports, "" before loading or if unsupported.
  std::string driver_version() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gf
