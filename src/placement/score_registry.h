// The placement score extension point: every score plugin by the name spec.placement.scores
// weighs. Adding one: a class deriving from ScorePlugin (plugin.h) in its own file, and one line
// in score_registry.cc.
#pragma once

#include <memory>

#include "common/plugin_registry.h"
#include "common/spec.h"
#include "placement/plugin.h"

namespace gf {

using ScoreFactory = std::unique_ptr<ScorePlugin> (*)(const PlacementSpec& spec);

// Built on first use; registration order is the order the docs list them in.
const PluginRegistry<ScoreFactory>& placement_scores();

}  // namespace gf
