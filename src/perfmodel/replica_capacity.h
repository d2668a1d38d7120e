// What one replica of a deployment sustains on a GPU model within the deployment's SLO, by the
// perf model: the slo policy's seed, the GPU ranking's numerator, and how much faster one
// replica serves than another of the same deployment on another GPU model (routing weighs it).
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>

#include "common/spec.h"
#include "common/units.h"
#include "perfmodel/perf_model.h"

namespace gf {

// The autoscaling spec's SLO targets, the perf model's defaults for those it leaves unset.
SloTarget slo_of(const AutoscalingSpec& a);

// Requests/s for requests of these sizes, with the deployment's own `performance` coefficients
// when it gives them and its slo targets (the perf model's defaults when it sets none); nullopt
// when the perf model does not know the pair or says nothing fits.
std::optional<double> replica_capacity_rps(const DeploymentSpec& d, const std::string& gpu,
                                           Tokens prompt, Tokens output);
// The same with the replica's perf model already looked up.
std::optional<double> replica_capacity_rps(const DeploymentSpec& d, const PerfModel& perf,
                                           Tokens prompt, Tokens output);
// The same within these targets.
std::optional<double> replica_capacity_rps(const SloTarget& slo, const PerfModel& perf,
                                           Tokens prompt, Tokens output);

// The request shape that compares GPU models (the ratio between them, not the absolute rate,
// decides): ranking where to grow, and the replicas' speeds.
inline constexpr int64_t kReferencePromptTokens = 512;
inline constexpr int64_t kReferenceOutputTokens = 128;

// replica_capacity_rps for the reference request.
std::optional<double> reference_capacity_rps(const DeploymentSpec& d, const std::string& gpu);

// Each GPU model's reference capacity over the best of them, in (0, 1]: how fast a replica there
// serves next to the deployment's fastest. Empty when fewer than two models are given or the perf
// model does not know one of them (the replicas then count as equally fast).
std::map<std::string, double> relative_speeds(const DeploymentSpec& d,
                                              std::span<const std::string> gpus);

}  // namespace gf
