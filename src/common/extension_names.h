// The plugin and policy names a manifest may use, handed to the manifest reader by the layers
// that own the registries (src/placement/placement_names.h, src/routing/policy_registry.h).
//
// Why names are passed in, as plain lists: the manifest reader (common/io) sits below placement
// and routing (they are built on common), so it cannot ask their registries; a callback into them
// would only hide the same upward dependency behind a function pointer. With lists the arrow
// keeps pointing down: each registry's owner produces its names, and whoever reads manifests (a
// shell, which may depend on every core folder) brings them along. The manifest reader keeps what
// it is good at: reporting a bad name at its file, line, column and field path. This header is
// pure common, so the core folders that produce the names may include it.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace gf {

// What placement accepts in a Cluster's spec.placement.
struct PlacementNames {
  std::vector<std::string> filters;
  std::vector<std::string> required_filters;  // hard rules: a filter list must name them all
  std::vector<std::string> scores;
};

// An absent part is not checked: a reader that needs only nodes and GPUs (the fake GPU provider)
// leaves it out, and the controller that reads the same file checks it.
struct ExtensionNames {
  std::optional<PlacementNames> placement;
  std::optional<std::vector<std::string>> routing_policies;
  std::optional<std::vector<std::string>> scaling_policies;  // src/autoscale/policy_registry.h
};

}  // namespace gf
