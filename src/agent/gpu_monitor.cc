#include "agent/gpu_monitor.h"

#include <fmt/format.h>

namespace gf {
namespace {

constexpr Health kAllHealth[] = {Health::kHealthy, Health::kSuspect,   Health::kReserved,
                                 Health::kFaulty,  Health::kProbation, Health::kLost};

double mib(Bytes b) {
  return static_cast<double>(b.value) / (1 << 20);
}

}  // namespace

GpuMonitor::GpuMonitor(GpuProvider& provider, HealthPolicyConfig health, Registry& r,
                       std::string hostname)
    : provider_(provider), policy_(std::move(health)), hostname_(std::move(hostname)) {
  // dcgm-exporter's names, units and labels, so existing Grafana GPU dashboards work unchanged.
  const std::vector<std::string> l = {"gpu", "UUID", "modelName", "Hostname"};
  util_ = *r.gauge("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", l);
  temp_ = *r.gauge("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", l);
  fb_used_ = *r.gauge("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", l);
  fb_free_ = *r.gauge("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", l);
  power_ = *r.gauge("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", l);
  last_xid_ = *r.gauge("DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered.", l);
  // dcgm-exporter's XID gauge holds only the last value and never resets; a counter per code
  // tells repeats apart and works with rate().
  xids_ = *r.counter("gpufleet_gpu_xid_errors_total", "XID errors seen, by code.",
                     {"gpu", "UUID", "modelName", "Hostname", "xid"});
  health_ =
      *r.gauge("gpufleet_gpu_health", "1 for the GPU's current health state, 0 for the others.",
               {"gpu", "UUID", "state"});
  sample_errors_ =
      *r.counter("gpufleet_gpu_sample_errors_total", "Sampling rounds that failed.", {"Hostname"});
  sample_errors_->with({hostname_});
}

std::vector<std::string> GpuMonitor::labels(const GpuInfo& g) const {
  return {std::to_string(g.index), g.uuid, g.name, hostname_};
}

void GpuMonitor::export_health(const GpuInfo& g) {
  Health now = policy_.health(g.uuid);
  for (Health h : kAllHealth)
    health_->with({std::to_string(g.index), g.uuid, to_string(h)}).set(h == now ? 1 : 0);
}

Status GpuMonitor::discover() {
  auto found = provider_.discover();
  if (!found) return found.error();
  gpus_ = std::move(*found);
  for (const auto& g : gpus_)
    export_health(g);
  return {};
}

std::vector<HealthTransition> GpuMonitor::tick(TimePoint now) {
  std::vector<HealthTransition> out;
  auto keep = [&](std::optional<HealthTransition> t) {
    if (t) out.push_back(std::move(*t));
  };
  for (const XidEvent& x : provider_.drain_xids()) {
    for (const auto& g : gpus_) {
      if (g.uuid != x.uuid) continue;
      xids_->with({std::to_string(g.index), g.uuid, g.name, hostname_, std::to_string(x.xid)})
          .inc();
      last_xid_->with(labels(g)).set(static_cast<double>(x.xid));
    }
    keep(policy_.observe_xid(x.uuid, static_cast<int>(x.xid), now));
  }
  auto samples = provider_.sample();
  if (!samples) {
    // The provider itself failed (NVML gone): keep the last state, count it, try again next round.
    sample_errors_->with({hostname_}).inc();
    return out;
  }
  for (const GpuSample& s : *samples) {
    const GpuInfo* g = nullptr;
    for (const auto& info : gpus_) {
      if (info.uuid == s.uuid) g = &info;
    }
    if (g == nullptr) continue;  // appeared since discovery: watched after the agent restarts
    HealthSample hs;
    hs.temperature_c = s.temperature_c;
    if (s.memory_free) hs.memory_free = to_mib_floor(*s.memory_free);
    hs.ecc_double_bit = s.ecc_double_bit_volatile;
    hs.lost = s.lost;
    keep(policy_.observe(s.uuid, hs, now));
    auto l = labels(*g);
    if (s.utilization_pct) util_->with(l).set(*s.utilization_pct);
    if (s.temperature_c) temp_->with(l).set(*s.temperature_c);
    if (s.memory_used) fb_used_->with(l).set(mib(*s.memory_used));
    if (s.memory_free) fb_free_->with(l).set(mib(*s.memory_free));
    if (s.power_w) power_->with(l).set(*s.power_w);
    export_health(*g);
    last_[s.uuid] = s;
  }
  return out;
}

}  // namespace gf
