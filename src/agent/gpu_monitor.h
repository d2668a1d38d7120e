// The agent's GPU loop body: one round samples every GPU, feeds samples and XIDs to the health
// policy, and updates the exported metrics (dcgm-exporter's names, plus gpufleet's own XID
// counter and health state). The shell calls tick() on its timer; tests call it directly.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/io/metrics.h"
#include "gpu/gpu_provider.h"
#include "pool/health_policy.h"

namespace gf {

class GpuMonitor {
 public:
  GpuMonitor(GpuProvider& provider, HealthPolicyConfig health, Registry& registry,
             std::string hostname);

  // Reads the inventory, once at start: a GPU that appears later is watched only after the agent
  // restarts; a lost one stays listed, and its samples report it lost.
  Status discover();
  // One round. Returns the health transitions it caused, oldest first, for the log and the
  // controller.
  std::vector<HealthTransition> tick(TimePoint now);

  const std::vector<GpuInfo>& gpus() const { return gpus_; }
  const HealthPolicy& health() const { return policy_; }
  // The latest sample per GPU UUID (telemetry the heartbeat carries to the controller).
  const std::map<std::string, GpuSample>& last_samples() const { return last_; }
  // Messages the provider gave once (a missing NVML function, a field not supported).
  std::vector<std::string> take_notices() { return provider_.take_notices(); }

 private:
  std::vector<std::string> labels(const GpuInfo& g) const;
  void export_health(const GpuInfo& g);

  GpuProvider& provider_;
  HealthPolicy policy_;
  std::string hostname_;
  std::vector<GpuInfo> gpus_;
  std::map<std::string, GpuSample> last_;
  GaugeFamily* util_ = nullptr;
  GaugeFamily* temp_ = nullptr;
  GaugeFamily* fb_used_ = nullptr;
  GaugeFamily* fb_free_ = nullptr;
  GaugeFamily* power_ = nullptr;
  GaugeFamily* last_xid_ = nullptr;
  CounterFamily* xids_ = nullptr;
  GaugeFamily* health_ = nullptr;
  CounterFamily* sample_errors_ = nullptr;
};

}  // namespace gf
