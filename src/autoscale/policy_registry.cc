#include "autoscale/policy_registry.h"

#include "autoscale/dynamo_sla_policy.h"
#include "autoscale/hpa_policy.h"
#include "autoscale/kpa_policy.h"
#include "autoscale/predictive_policy.h"
#include "autoscale/ray_serve_policy.h"
#include "autoscale/slo_policy.h"
#include "autoscale/target_policy.h"
#include "autoscale/threshold_policy.h"
#include "common/plugin_registry.h"

namespace gf {
namespace {

using PolicyFactory = std::unique_ptr<ScalingPolicy> (*)();

template <class P>
std::unique_ptr<ScalingPolicy> construct() {
  return std::make_unique<P>();
}

const PluginRegistry<PolicyFactory>& scaling_policies() {
  static const PluginRegistry<PolicyFactory> registry(
      "scaling policy", {
                            {"threshold", construct<ThresholdPolicy>},
                            {"target", construct<TargetPolicy>},
                            {"predictive", construct<PredictivePolicy>},
                            {"slo", construct<SloPolicy>},
                            // Baselines modeled from other systems' published rules.
                            {"hpa", construct<HpaPolicy>},
                            {"kpa", construct<KpaPolicy>},
                            {"ray-serve", construct<RayServePolicy>},
                            {"dynamo-sla", construct<DynamoSlaPolicy>},
                        });
  return registry;
}

}  // namespace

Result<std::unique_ptr<ScalingPolicy>> make_scaling_policy(std::string_view name) {
  auto factory = scaling_policies().lookup(name);
  if (!factory) return factory.error();
  return (**factory)();
}

bool is_baseline_policy(std::string_view name) {
  auto policy = make_scaling_policy(name);
  return policy && (*policy)->baseline();
}

const std::vector<std::string>& scaling_policy_names() {
  return scaling_policies().names();
}

}  // namespace gf
