#include "placement/filter_registry.h"

#include "placement/filters.h"
#include "placement/plugin_factory.h"
#include "placement/tenant_quota_filter.h"
#include "placement/topology_filter.h"

namespace gf {
namespace {

constexpr bool kHardRule = true;
constexpr bool kOptional = false;

template <class Plugin>
constexpr auto make = &make_plugin<FilterPlugin, Plugin>;

}  // namespace

const PluginRegistry<FilterFactory>& placement_filters() {
  static const PluginRegistry<FilterFactory> registry(
      "placement filter", {
                              {"health", {kHardRule, make<HealthFilter>}},
                              {"model", {kHardRule, make<ModelFilter>}},
                              {"memory", {kHardRule, make<MemoryFilter>}},
                              {"topology", {kHardRule, make<TopologyFilter>}},
                              {"tenant-quota", {kOptional, make<TenantQuotaFilter>}},
                          });
  return registry;
}

std::vector<std::string> required_placement_filters() {
  std::vector<std::string> out;
  for (const std::string& name : placement_filters().names()) {
    if (placement_filters().find(name)->required) out.push_back(name);
  }
  return out;
}

}  // namespace gf
