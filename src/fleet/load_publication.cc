#include "fleet/load_publication.h"

#include <cmath>
#include <cstdlib>

namespace gf {

bool load_moved(const RouteReplica& published, const RouteReplica& latest,
                const LoadPublicationRule& rule) {
  // Known <-> unknown always matters: a router must not keep weighing a figure that is gone.
  if (published.kv_cache_usage.has_value() != latest.kv_cache_usage.has_value()) return true;
  if (published.queue_length.has_value() != latest.queue_length.has_value()) return true;
  // The epsilon makes 0.40 -> 0.45 a move of 0.05, as a person reads it, despite rounding.
  if (latest.kv_cache_usage &&
      std::fabs(*latest.kv_cache_usage - *published.kv_cache_usage) >= rule.kv_step - 1e-9)
    return true;
  return latest.queue_length &&
         std::abs(*latest.queue_length - *published.queue_length) >= rule.queue_step;
}

bool same_replicas(const RoutingTable& a, const RoutingTable& b) {
  auto same_model = [](const RouteModel& x, const RouteModel& y) {
    return x.model == y.model && x.deployment == y.deployment && x.policy == y.policy &&
           x.unavailable == y.unavailable && x.tenants == y.tenants &&
           x.revisions.size() == y.revisions.size();
  };
  auto same_replica = [](const RouteReplica& x, const RouteReplica& y) {
    return x.id == y.id && x.address == y.address && x.restarts == y.restarts &&
           x.ready == y.ready && x.draining == y.draining && x.speed == y.speed;
  };
  if (a.models.size() != b.models.size()) return false;
  for (size_t m = 0; m < a.models.size(); ++m) {
    if (!same_model(a.models[m], b.models[m])) return false;
    for (size_t r = 0; r < a.models[m].revisions.size(); ++r) {
      const RouteRevision& x = a.models[m].revisions[r];
      const RouteRevision& y = b.models[m].revisions[r];
      if (x.revision != y.revision || x.weight != y.weight ||
          x.replicas.size() != y.replicas.size())
        return false;
      for (size_t i = 0; i < x.replicas.size(); ++i)
        if (!same_replica(x.replicas[i], y.replicas[i])) return false;
    }
  }
  return true;
}

bool load_moved(const RoutingTable& published, const RoutingTable& latest,
                const LoadPublicationRule& rule) {
  if (published.models.size() != latest.models.size()) return true;
  for (size_t m = 0; m < latest.models.size(); ++m) {
    const auto& pm = published.models[m].revisions;
    const auto& lm = latest.models[m].revisions;
    if (pm.size() != lm.size()) return true;
    for (size_t r = 0; r < lm.size(); ++r) {
      const auto& pr = pm[r].replicas;
      const auto& lr = lm[r].replicas;
      if (pr.size() != lr.size()) return true;
      for (size_t i = 0; i < lr.size(); ++i)
        if (load_moved(pr[i], lr[i], rule)) return true;
    }
  }
  return false;
}

}  // namespace gf
