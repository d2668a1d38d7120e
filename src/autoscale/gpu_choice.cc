#include "autoscale/gpu_choice.h"

#include <algorithm>
#include <map>

#include "perfmodel/replica_capacity.h"

namespace gf {

std::vector<std::string> gpu_models_by_value(const DeploymentSpec& d, const Pool& pool) {
  // Candidates: the spec's list, else every model in the pool; one price each (the first GPU's).
  std::vector<std::string> models = d.resources.gpu_models;
  std::map<std::string, double> price;
  for (size_t i = 0; i < pool.gpu_count(); ++i) {
    const Gpu& g = pool.gpu(GpuIndex{static_cast<uint32_t>(i)});
    const std::string& m = pool.model_name(g.model);
    if (price.emplace(m, g.price_per_hour).second && d.resources.gpu_models.empty())
      models.push_back(m);
  }
  struct Ranked {
    std::string model;
    double value = 0;  // requests/s per dollar-hour; 0 = unknown
  };
  std::vector<Ranked> ranked;
  int priced = 0;
  for (const std::string& m : models) {
    const double p = price.contains(m) ? price[m] : 0.0;
    const double rps = p > 0 ? reference_capacity_rps(d, m).value_or(0.0) : 0.0;
    const double value = rps > 0 ? rps / (p * d.resources.gpus) : 0.0;
    priced += value > 0;
    ranked.push_back({m, value});
  }
  if (priced < 2) return {};
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const Ranked& a, const Ranked& b) { return a.value > b.value; });
  std::vector<std::string> out;
  for (auto& r : ranked)
    out.push_back(std::move(r.model));
  return out;
}

}  // namespace gf
