#include "placement/batch.h"

#include <algorithm>

namespace gf {

std::vector<ReplicaOutcome> place_deployments(Pool& pool, const Scheduler& scheduler,
                                              const std::vector<DeploymentSpec>& deployments,
                                              TimePoint now) {
  std::vector<const DeploymentSpec*> order;
  order.reserve(deployments.size());
  for (const auto& d : deployments)
    order.push_back(&d);
  std::stable_sort(
      order.begin(), order.end(), [](const DeploymentSpec* a, const DeploymentSpec* b) {
        return a->priority != b->priority ? a->priority > b->priority : a->name < b->name;
      });
  std::vector<ReplicaOutcome> out;
  for (const DeploymentSpec* d : order) {
    AllocationRequest req = request_for(*d, d->owner);
    for (int i = 0; i < d->replicas.min; ++i) {
      ReplicaOutcome o{d->name, i};
      Decision dec = scheduler.place(pool, req);
      Result<AllocationId> r =
          dec.slot        ? pool.bind_slot(*dec.slot, req, now)
          : dec.placement ? pool.commit(req, dec.placement->node, dec.placement->gpus(pool), now)
                          : Result<AllocationId>(make_error(dec.code, dec.reason));
      if (r) {
        o.allocation = *r;
      } else {
        o.code = r.error().code;
        o.reason = r.error().message;
        o.preemption_victims = dec.preemption ? dec.preemption->victims.size() : 0;
      }
      out.push_back(std::move(o));
    }
    if (d->reserve_replicas > 0) {
      Result<ReservationId> r = scheduler.reserve(pool, req, d->reserve_replicas, now);
      for (int i = 0; i < d->reserve_replicas; ++i) {
        ReplicaOutcome o{d->name, i, true};
        if (r) {
          o.allocation = pool.reservation(*r)->slots[i];
        } else {
          o.code = r.error().code;
          o.reason = r.error().message;
        }
        out.push_back(std::move(o));
      }
    }
  }
  return out;
}

}  // namespace gf
