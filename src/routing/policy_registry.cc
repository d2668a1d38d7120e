#include "routing/policy_registry.h"

#include <type_traits>

#include "routing/kv_aware.h"
#include "routing/least_outstanding.h"
#include "routing/least_work.h"
#include "routing/power_of_two.h"
#include "routing/prefix_affinity.h"
#include "routing/round_robin.h"
#include "routing/session_affinity.h"

namespace gf {
namespace {

// A policy with knobs takes the whole PolicyConfig; one without takes nothing. (A policy with
// neither constructor fails to compile here, rather than silently running on defaults.)
template <class P>
std::unique_ptr<Policy> construct(const PolicyConfig& config) {
  if constexpr (std::is_constructible_v<P, const PolicyConfig&>) {
    return std::make_unique<P>(config);
  } else {
    return std::make_unique<P>();
  }
}

}  // namespace

const PluginRegistry<PolicyFactory>& routing_policies() {
  static const PluginRegistry<PolicyFactory> registry(
      "routing policy", {
                            {"round-robin", construct<RoundRobinPolicy>},
                            {"least-outstanding", construct<LeastOutstandingPolicy>},
                            {"least-work", construct<LeastWorkPolicy>},
                            {"power-of-two", construct<PowerOfTwoPolicy>},
                            {"prefix-affinity", construct<PrefixAffinityPolicy>},
                            {"session-affinity", construct<SessionAffinityPolicy>},
                            {"kv-aware", construct<KvAwarePolicy>},
                        });
  return registry;
}

const std::vector<std::string>& policy_names() {
  return routing_policies().names();
}

Result<std::unique_ptr<Policy>> make_policy(std::string_view name, const PolicyConfig& config) {
  if (Status s = validate(config); !s.ok()) return s.error();
  auto factory = routing_policies().lookup(name);
  if (!factory) return factory.error();
  return (**factory)(config);
}

}  // namespace gf
