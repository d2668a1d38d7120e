#include "serving/model_capacity.h"

namespace gf {

std::optional<int> model_capacity(const RouteModel& model, int replica_concurrency) {
  int replicas = 0;
  for (const RouteRevision& rev : model.revisions)
    replicas += static_cast<int>(rev.replicas.size());
  if (replicas == 0) return 0;
  if (replica_concurrency > 0) return replicas * replica_concurrency;
  return std::nullopt;
}

}  // namespace gf
