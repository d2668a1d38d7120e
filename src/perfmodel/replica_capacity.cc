#include "perfmodel/replica_capacity.h"

#include <algorithm>

#include "perfmodel/deployment_perf.h"

namespace gf {

std::optional<double> replica_capacity_rps(const DeploymentSpec& d, const std::string& gpu,
                                           Tokens prompt, Tokens output) {
  if (gpu.empty()) return std::nullopt;
  auto perf = deployment_perf_model(d, gpu);
  if (!perf) return std::nullopt;
  return replica_capacity_rps(d, *perf, prompt, output);
}

std::optional<double> replica_capacity_rps(const DeploymentSpec& d, const PerfModel& perf,
                                           Tokens prompt, Tokens output) {
  return replica_capacity_rps(d.autoscaling ? slo_of(*d.autoscaling) : SloTarget{}, perf, prompt,
                              output);
}

SloTarget slo_of(const AutoscalingSpec& a) {
  return SloTarget{a.slo_ttft.value_or(SloTarget{}.ttft), a.slo_tpot.value_or(SloTarget{}.tpot)};
}

std::optional<double> replica_capacity_rps(const SloTarget& slo, const PerfModel& perf,
                                           Tokens prompt, Tokens output) {
  const double rps = perf.sustainable_rps(slo, prompt, output);
  if (!(rps > 0)) return std::nullopt;
  return rps;
}

std::optional<double> reference_capacity_rps(const DeploymentSpec& d, const std::string& gpu) {
  return replica_capacity_rps(d, gpu, Tokens{kReferencePromptTokens},
                              Tokens{kReferenceOutputTokens});
}

std::map<std::string, double> relative_speeds(const DeploymentSpec& d,
                                              std::span<const std::string> gpus) {
  std::map<std::string, double> out;
  // One GPU model (the usual fleet) needs no perf model lookup at all.
  if (std::all_of(gpus.begin(), gpus.end(), [&](const std::string& g) { return g == gpus[0]; }))
    return out;
  for (const std::string& g : gpus) {
    if (out.contains(g)) continue;
    const auto rps = reference_capacity_rps(d, g);
    if (!rps) return {};
    out[g] = *rps;
  }
  if (out.size() < 2) return {};
  double best = 0;
  for (const auto& [g, rps] : out)
    best = std::max(best, rps);
  for (auto& [g, rps] : out)
    rps /= best;
  return out;
}

}  // namespace gf
