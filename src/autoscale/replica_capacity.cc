#include "autoscale/replica_capacity.h"

#include "perfmodel/perf_model.h"

namespace gf {

std::optional<double> replica_capacity_rps(const DeploymentSpec& d, const std::string& gpu,
                                           Tokens prompt, Tokens output) {
  if (gpu.empty()) return std::nullopt;
  std::optional<PerfCoefficients> manual;
  if (d.performance) {
    const PerformanceSpec& p = *d.performance;
    manual = PerfCoefficients{p.prefill_base_ms, p.prefill_per_token_ms, p.prefill_per_token2_ms,
                              p.decode_base_ms,  p.decode_per_seq_ms,    p.decode_per_ctx_token_ms};
  }
  auto perf = PerfModel::lookup(gpu, d.model, d.resources.gpus, manual);
  if (!perf) return std::nullopt;
  SloTarget slo;
  if (d.autoscaling && d.autoscaling->slo_ttft) slo.ttft = *d.autoscaling->slo_ttft;
  if (d.autoscaling && d.autoscaling->slo_tpot) slo.tpot = *d.autoscaling->slo_tpot;
  const double rps = perf->sustainable_rps(slo, prompt, output);
  if (!(rps > 0)) return std::nullopt;
  return rps;
}

}  // namespace gf
