// The GPU health policy: turns telemetry samples, XID events and disappearances into health
// transitions, with thresholds, hysteresis and a way back. Unlike the Kubernetes device plugin,
// where an unhealthy GPU stays unhealthy until a restart, every fault can recover through
// Probation. Pure: the agent feeds it samples and `now`, and applies what it returns to the pool.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/units.h"
#include "pool/gpu_state.h"

namespace gf {

struct HealthPolicyConfig {
  int temperature_limit_c = 85;
  int hysteresis_c = 5;       // cool means below limit - hysteresis
  int overheat_samples = 3;   // consecutive hot samples: Suspect, then Faulty
  int cool_samples = 10;      // consecutive cool samples before an overheated GPU recovers
  MiB reserved_floor{1024};   // free memory below this: Reserved
  MiB reserved_margin{1024};  // ... until it is back above floor + margin
  // Application-level XIDs that say nothing about the GPU (the NVIDIA device plugin's list).
  std::set<int> ignored_xids = {13, 31, 43, 45, 68, 109};
  Duration quiet_period =
      std::chrono::minutes(5);                   // no new fatal XID/ECC error: Faulty -> Probation
  Duration probation = std::chrono::minutes(5);  // clean probation: -> Healthy
};

// Whether an engine on a GPU in this state can still serve while a replacement starts. Only a
// thermal fault spares it (the GPU works, but should cool down): a lost GPU, a fatal XID or a
// double-bit ECC error leaves the engine's CUDA context unusable. `reason` is the one this
// policy gave the fault (it crosses the wire as text).
bool fault_spares_engine(Health health, std::string_view reason);

// One sample as the agent read it. An absent field means the GPU does not support it (NVML's
// NOT_SUPPORTED), which is not a fault.
struct HealthSample {
  std::optional<int> temperature_c;
  std::optional<MiB> memory_free;
  std::optional<uint64_t> ecc_double_bit;  // volatile count since driver load
  bool lost = false;                       // NVML GPU_IS_LOST
};

struct HealthTransition {
  std::string gpu;  // UUID
  Health from = Health::kHealthy;
  Health to = Health::kHealthy;
  std::string reason;
  TimePoint time;
};

class HealthPolicy {
 public:
  explicit HealthPolicy(HealthPolicyConfig config = {}) : config_(std::move(config)) {}

  std::optional<HealthTransition> observe(const std::string& gpu, const HealthSample& s,
                                          TimePoint now);
  std::optional<HealthTransition> observe_xid(const std::string& gpu, int xid, TimePoint now);
  // The GPU is no longer listed by discovery.
  std::optional<HealthTransition> vanished(const std::string& gpu, TimePoint now);
  // An operator says the GPU is fine: Faulty or Probation -> Healthy now.
  std::optional<HealthTransition> clear(const std::string& gpu, TimePoint now);

  Health health(const std::string& gpu) const;
  // XIDs seen per code, fatal or not: a counter, unlike dcgm-exporter's last-value gauge.
  const std::map<int, uint64_t>& xid_counts(const std::string& gpu) const;
  const HealthPolicyConfig& config() const { return config_; }

 private:
  enum class Cause { kNone, kOverheat, kError };
  struct Tracker {
    Health health = Health::kHealthy;
    Cause cause = Cause::kNone;
    int hot = 0;
    int cool = 0;
    bool have_ecc = false;
    uint64_t ecc = 0;
    TimePoint last_fault{};
    TimePoint probation_since{};
    std::map<int, uint64_t> xids;
  };

  std::optional<HealthTransition> move(const std::string& gpu, Tracker& t, Health to, Cause cause,
                                       std::string reason, TimePoint now);
  std::optional<HealthTransition> fault(const std::string& gpu, Tracker& t, Cause cause,
                                        std::string reason, TimePoint now);

  HealthPolicyConfig config_;
  std::map<std::string, Tracker> gpus_;
};

}  // namespace gf
