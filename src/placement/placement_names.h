// The names placement accepts, as the manifest reader wants them (common/extension_names.h).
#pragma once

#include "common/extension_names.h"

namespace gf {

PlacementNames placement_names();

}  // namespace gf
