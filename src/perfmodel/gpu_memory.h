// A GPU's memory read from its model name, for engines simulated without an inventory to ask.
#pragma once

#include <string_view>

#include "common/units.h"

namespace gf {

// A catalogue GPU's memory (common/gpu_catalog.h: "L40S" and "NVIDIA H200" too); otherwise the
// number in the name's last dash-separated part when it ends in GB ("A100-80GB" -> 80 GiB,
// "H100-94gb" -> 94 GiB); 80 GiB, the most common data-centre size, when the name has none.
// GiB rather than GB because vendors' "80GB" cards hold 80 GiB.
MiB gpu_memory_from_name(std::string_view gpu);

}  // namespace gf
