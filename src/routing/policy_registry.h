// The routing policy extension point: every replica-picking policy by the name
// DeploymentSpec::routing (a manifest's spec.routing.policy) uses. Adding one: a class deriving
// from Policy (policy.h) in its own file, constructible from a PolicyConfig or from nothing, and
// one line in policy_registry.cc.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/plugin_registry.h"
#include "common/result.h"
#include "routing/policy.h"

namespace gf {

using PolicyFactory = std::unique_ptr<Policy> (*)(const PolicyConfig& config);

// Built on first use; registration order is the order the docs list them in.
const PluginRegistry<PolicyFactory>& routing_policies();

// The names DeploymentSpec::routing accepts, in documentation order.
const std::vector<std::string>& policy_names();

// The policy named `name`, or kInvalidArgument listing the known names; also fails on an invalid
// config (validate()).
Result<std::unique_ptr<Policy>> make_policy(std::string_view name, const PolicyConfig& config);

}  // namespace gf
