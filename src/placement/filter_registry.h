// The placement filter extension point: every filter plugin by the name spec.placement.filters
// uses. Adding one: a class deriving from RequestFilter, GpuFilter or NodeFilter (plugin.h) in
// its own file, and one line in filter_registry.cc.
#pragma once

#include <memory>

#include "common/plugin_registry.h"
#include "common/spec.h"
#include "placement/plugin.h"

namespace gf {

struct FilterFactory {
  // A hard rule (health, model, memory, topology): every filter list must name it, since
  // placing without it would put replicas where they cannot run.
  bool required = false;
  std::unique_ptr<FilterPlugin> (*make)(const PlacementSpec& spec) = nullptr;
};

// Built on first use; registration order is the order the docs list them in.
const PluginRegistry<FilterFactory>& placement_filters();

// The names of the hard-rule filters, in registration order.
std::vector<std::string> required_placement_filters();

}  // namespace gf
