#include "perfmodel/deployment_perf.h"

namespace gf {

PerfCoefficients coefficients_of(const PerformanceSpec& p) {
  return PerfCoefficients{p.prefill_base_ms, p.prefill_per_token_ms, p.prefill_per_token2_ms,
                          p.decode_base_ms,  p.decode_per_seq_ms,    p.decode_per_ctx_token_ms};
}

Result<PerfModel> deployment_perf_model(const DeploymentSpec& d, const std::string& gpu) {
  std::optional<PerfCoefficients> manual;
  if (d.performance) manual = coefficients_of(*d.performance);
  return PerfModel::lookup(gpu, d.model, d.resources.gpus, manual);
}

}  // namespace gf
