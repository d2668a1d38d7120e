// What one replica of a deployment sustains on a GPU model within the deployment's SLO, by the
// perf model: the slo policy's seed and the GPU ranking's numerator.
#pragma once

#include <optional>
#include <string>

#include "common/spec.h"
#include "common/units.h"
#include "perfmodel/perf_model.h"

namespace gf {

// Requests/s for requests of these sizes, with the deployment's own `performance` coefficients
// when it gives them and its slo targets (the perf model's defaults when it sets none); nullopt
// when the perf model does not know the pair or says nothing fits.
std::optional<double> replica_capacity_rps(const DeploymentSpec& d, const std::string& gpu,
                                           Tokens prompt, Tokens output);
// The same with the replica's perf model already looked up.
std::optional<double> replica_capacity_rps(const DeploymentSpec& d, const PerfModel& perf,
                                           Tokens prompt, Tokens output);

}  // namespace gf
