#include "autoscale/replica_capacity.h"

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
  SloTarget slo;
  if (d.autoscaling && d.autoscaling->slo_ttft) slo.ttft = *d.autoscaling->slo_ttft;
  if (d.autoscaling && d.autoscaling->slo_tpot) slo.tpot = *d.autoscaling->slo_tpot;
  const double rps = perf.sustainable_rps(slo, prompt, output);
  if (!(rps > 0)) return std::nullopt;
  return rps;
}

}  // namespace gf
