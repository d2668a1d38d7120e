// The perf model of one deployment's replica on a GPU model: its own `performance` coefficients
// when the manifest gives them, else the fitted ones. One lookup for the autoscaler, engine-sim's
// callers and the simulator.
#pragma once

#include <string>

#include "common/result.h"
#include "common/spec.h"
#include "perfmodel/perf_model.h"

namespace gf {

PerfCoefficients coefficients_of(const PerformanceSpec& p);

// kNotFound when the perf model knows neither the pair nor (with manual coefficients) the model.
Result<PerfModel> deployment_perf_model(const DeploymentSpec& d, const std::string& gpu);

}  // namespace gf
