#include "placement/gpu_cost.h"

namespace gf {

double cost_per_capacity(const Pool& pool, GpuIndex gpu,
                         const std::map<std::string, double>& capacity_hints) {
  const Gpu& g = pool.gpu(gpu);
  auto it = capacity_hints.find(pool.model_name(g.model));
  const double capacity = it == capacity_hints.end() || it->second <= 0 ? 1.0 : it->second;
  return g.price_per_hour / capacity;
}

}  // namespace gf
