#include "placement/placement_names.h"

#include "placement/filter_registry.h"
#include "placement/score_registry.h"

namespace gf {

PlacementNames placement_names() {
  return PlacementNames{placement_filters().names(), required_placement_filters(),
                        placement_scores().names()};
}

}  // namespace gf
