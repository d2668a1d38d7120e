// What "cost-efficient" means wherever gpufleet compares GPUs: dollars per hour per unit of
// capacity. Placement's cost-efficiency score prefers the cheapest; the fleet removes the
// dearest first when it scales down.
#pragma once

#include <map>
#include <string>

#include "pool/pool.h"

namespace gf {

// The GPU's price per hour over its model's capacity hint (PlacementSpec::capacity_hints; 1
// when the model has none). 0 for a GPU without a price.
double cost_per_capacity(const Pool& pool, GpuIndex gpu,
                         const std::map<std::string, double>& capacity_hints);

}  // namespace gf
