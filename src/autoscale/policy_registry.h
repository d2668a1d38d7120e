// The scaling policies by name: what `spec.autoscaling.policy` may say.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "autoscale/scaling_policy.h"
#include "common/result.h"

namespace gf {

// A fresh instance of the named policy; kNotFound listing the known names.
Result<std::unique_ptr<ScalingPolicy>> make_scaling_policy(std::string_view name);
// Every registered name, for the manifest reader (common/extension_names.h).
const std::vector<std::string>& scaling_policy_names();
// Whether a policy is a baseline modeled from another system's published rules (hpa, kpa,
// ray-serve, dynamo-sla) rather than one of gpufleet's own: baselines keep their systems' flaws.
bool is_baseline_policy(std::string_view name);

}  // namespace gf
