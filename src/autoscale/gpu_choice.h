// Which GPU model a deployment should grow on: the ones it may use, ordered by what one replica
// serves per dollar-hour (the perf model's sustainable rate over the cluster's price), best first.
// The fleet places the autoscaler's new replicas in this order among the GPUs that fit now.
#pragma once

#include <string>
#include <vector>

#include "common/spec.h"
#include "pool/pool.h"

namespace gf {

// Empty when fewer than two of the models have a price (nothing to choose by): placement then
// follows the spec's own order. Models without a price, or that the perf model does not know
// for this LLM, come after the ranked ones, in the spec's (or the pool's) order.
std::vector<std::string> gpu_models_by_value(const DeploymentSpec& d, const Pool& pool);

}  // namespace gf
