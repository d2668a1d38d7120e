#include "pool/health_policy.h"

#include <fmt/format.h>

namespace gf {

std::optional<HealthTransition> HealthPolicy::move(const std::string& gpu, Tracker& t, Health to,
                                                   Cause cause, std::string reason, TimePoint now) {
  if (t.health == to) return std::nullopt;
  HealthTransition tr{gpu, t.health, to, std::move(reason), now};
  t.health = to;
  t.cause = cause;
  if (to == Health::kProbation) t.probation_since = now;
  return tr;
}

// A new fault: Faulty from anywhere but Lost. A repeat while Faulty restarts the quiet period.
std::optional<HealthTransition> HealthPolicy::fault(const std::string& gpu, Tracker& t, Cause cause,
                                                    std::string reason, TimePoint now) {
  t.last_fault = now;
  if (t.health == Health::kLost) return std::nullopt;
  if (t.health == Health::kFaulty) {
    if (cause == Cause::kError) t.cause = Cause::kError;  // errors outrank heat: wait for quiet
    return std::nullopt;
  }
  return move(gpu, t, Health::kFaulty, cause, std::move(reason), now);
}

std::optional<HealthTransition> HealthPolicy::observe(const std::string& gpu, const HealthSample& s,
                                                      TimePoint now) {
  Tracker& t = gpus_[gpu];
  if (s.lost)
    return move(gpu, t, Health::kLost, Cause::kError,
                "NVML reports the GPU is lost (fallen off the bus)", now);
  if (t.health == Health::kLost) {
    t.hot = t.cool = 0;
    t.have_ecc = false;
    return move(gpu, t, Health::kProbation, Cause::kNone, "GPU is back; on probation", now);
  }

  // ECC double-bit errors: any increase is a fault. A non-zero count at the first sample is one
  // too: the volatile count only holds errors since the driver loaded (after an agent restart the
  // device plugin forgets them, NVIDIA/k8s-device-plugin#111; we do not).
  if (s.ecc_double_bit) {
    uint64_t before = t.have_ecc ? t.ecc : 0;
    t.have_ecc = true;
    t.ecc = *s.ecc_double_bit;
    if (*s.ecc_double_bit > before) {
      return fault(gpu, t, Cause::kError,
                   fmt::format("ECC double-bit errors: {} (was {})", *s.ecc_double_bit, before),
                   now);
    }
  }

  // Temperature, with hysteresis: Suspect on the first hot sample, Faulty after N in a row.
  if (s.temperature_c) {
    const int temp = *s.temperature_c;
    if (temp >= config_.temperature_limit_c) {
      t.hot += 1;
      t.cool = 0;
      if (t.hot >= config_.overheat_samples) {
        return fault(gpu, t, Cause::kOverheat,
                     fmt::format("overheat: {}°C >= {}°C for {} samples", temp,
                                 config_.temperature_limit_c, t.hot),
                     now);
      }
      if (t.health == Health::kHealthy || t.health == Health::kReserved) {
        return move(gpu, t, Health::kSuspect, Cause::kOverheat,
                    fmt::format("temperature {}°C >= {}°C ({}/{} samples)", temp,
                                config_.temperature_limit_c, t.hot, config_.overheat_samples),
                    now);
      }
      if (t.health == Health::kProbation) {
        return move(gpu, t, Health::kFaulty, Cause::kOverheat,
                    fmt::format("hot again during probation: {}°C", temp), now);
      }
    } else {
      t.hot = 0;
      if (temp < config_.temperature_limit_c - config_.hysteresis_c) t.cool += 1;
      if (t.health == Health::kSuspect && t.cause == Cause::kOverheat && t.cool > 0) {
        return move(gpu, t, Health::kHealthy, Cause::kNone,
                    fmt::format("temperature back to {}°C", temp), now);
      }
    }
  }

  // Recovery: Faulty -> Probation once the cause has cleared, Probation -> Healthy once it held.
  if (t.health == Health::kFaulty) {
    const bool cooled = t.cause == Cause::kOverheat && t.cool >= config_.cool_samples;
    const bool quiet = t.cause == Cause::kError && now - t.last_fault >= config_.quiet_period;
    if (cooled || quiet) {
      return move(gpu, t, Health::kProbation, Cause::kNone,
                  cooled ? fmt::format("cool for {} samples; on probation", t.cool)
                         : fmt::format("no new error for {}; on probation",
                                       format_duration(config_.quiet_period)),
                  now);
    }
    return std::nullopt;
  }
  if (t.health == Health::kProbation) {
    if (now - t.probation_since >= config_.probation) {
      return move(
          gpu, t, Health::kHealthy, Cause::kNone,
          fmt::format("probation of {} passed without a fault", format_duration(config_.probation)),
          now);
    }
    return std::nullopt;
  }

  // Low free memory: Reserved until it is back above floor + margin.
  if (s.memory_free) {
    if (*s.memory_free < config_.reserved_floor && t.health != Health::kReserved) {
      return move(gpu, t, Health::kReserved, Cause::kNone,
                  fmt::format("free memory {} below the {} floor", format_mib(*s.memory_free),
                              format_mib(config_.reserved_floor)),
                  now);
    }
    if (t.health == Health::kReserved &&
        *s.memory_free >= config_.reserved_floor + config_.reserved_margin) {
      return move(gpu, t, Health::kHealthy, Cause::kNone,
                  fmt::format("free memory back to {}", format_mib(*s.memory_free)), now);
    }
  }
  return std::nullopt;
}

std::optional<HealthTransition> HealthPolicy::observe_xid(const std::string& gpu, int xid,
                                                          TimePoint now) {
  Tracker& t = gpus_[gpu];
  t.xids[xid] += 1;
  if (config_.ignored_xids.count(xid) != 0) return std::nullopt;  // application error, GPU is fine
  return fault(gpu, t, Cause::kError, fmt::format("XID {} (fatal)", xid), now);
}

std::optional<HealthTransition> HealthPolicy::vanished(const std::string& gpu, TimePoint now) {
  Tracker& t = gpus_[gpu];
  return move(gpu, t, Health::kLost, Cause::kError, "GPU vanished from discovery", now);
}

std::optional<HealthTransition> HealthPolicy::clear(const std::string& gpu, TimePoint now) {
  Tracker& t = gpus_[gpu];
  if (t.health != Health::kFaulty && t.health != Health::kProbation) return std::nullopt;
  t.hot = t.cool = 0;
  return move(gpu, t, Health::kHealthy, Cause::kNone, "cleared by an operator", now);
}

Health HealthPolicy::health(const std::string& gpu) const {
  auto it = gpus_.find(gpu);
  return it == gpus_.end() ? Health::kHealthy : it->second.health;
}

const std::map<int, uint64_t>& HealthPolicy::xid_counts(const std::string& gpu) const {
  static const std::map<int, uint64_t> kNone;
  auto it = gpus_.find(gpu);
  return it == gpus_.end() ? kNone : it->second.xids;
}

bool fault_spares_engine(Health health, std::string_view reason) {
  if (health != Health::kFaulty) return health != Health::kLost;
  return reason.rfind("overheat", 0) == 0 || reason.rfind("hot again", 0) == 0;
}

}  // namespace gf
