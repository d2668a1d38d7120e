#include "fleet/warm_reserve.h"

#include <vector>

#include "pool/gpu_state.h"

namespace gf {
namespace {

// Slots are matched to replicas by shape (pool's free_slot_for) and preempted by priority; a
// change of either makes the held slots useless to the deployment's next replicas.
bool same_shape(const AllocationRequest& a, const AllocationRequest& b) {
  return a.gpus == b.gpus && a.memory_per_gpu == b.memory_per_gpu && a.compute == b.compute &&
         a.gpu_models == b.gpu_models && a.allow_reserved == b.allow_reserved &&
         a.topology == b.topology && a.priority == b.priority && a.tenant == b.tenant &&
         a.model == b.model;
}

// The reservation's slots that no replica uses.
std::vector<AllocationId> idle_slots(const Pool& pool, ReservationId id) {
  std::vector<AllocationId> out;
  const Reservation* res = pool.reservation(id);
  if (res == nullptr) return out;
  for (AllocationId sid : res->slots) {
    const Allocation* s = pool.allocation(sid);
    if (s != nullptr && !s->bound_replica.valid()) out.push_back(sid);
  }
  return out;
}

// A replica could start in this slot: bind_slot accepts its GPUs.
bool usable(const Pool& pool, const Allocation& slot) {
  for (GpuIndex gi : slot.gpus) {
    const Gpu& g = pool.gpu(gi);
    if (!allows_new_allocation(g.health, g.admin, true)) return false;
  }
  return true;
}

}  // namespace

void WarmReserves::sync(Pool& pool, const Scheduler& scheduler, const DeploymentSpec& spec,
                        TimePoint now, bool grow) {
  if (spec.reserve_replicas <= 0) {
    remove(pool, spec.name, now);
    return;
  }
  AllocationRequest shape = request_for(spec, spec.owner);
  auto it = held_.find(spec.name);
  if (it != held_.end() &&
      (!same_shape(it->second.shape, shape) || pool.reservation(it->second.id) == nullptr)) {
    remove(pool, spec.name, now);
    it = held_.end();
  }
  if (it == held_.end())
    it = held_.emplace(spec.name, Held{pool.create_reservation(spec.name), shape}).first;
  const ReservationId id = it->second.id;

  int kept = 0;
  for (AllocationId sid : idle_slots(pool, id)) {
    // A slot on a failed, lost or cordoned GPU would only turn the next replica away.
    if (kept < spec.reserve_replicas && usable(pool, *pool.allocation(sid))) {
      ++kept;
    } else {
      (void)pool.release(sid, now, "reserve of " + spec.name + " resized");
    }
  }
  for (; grow && kept < spec.reserve_replicas; ++kept) {
    if (!scheduler.hold_slot(pool, id, shape, now, false)) break;  // no free GPU yet: next time
  }
}

void WarmReserves::remove(Pool& pool, const std::string& deployment, TimePoint now) {
  auto it = held_.find(deployment);
  if (it == held_.end()) return;
  (void)pool.release_reservation(it->second.id, now);
  held_.erase(it);
}

int WarmReserves::idle(const Pool& pool, const std::string& deployment) const {
  auto it = held_.find(deployment);
  return it == held_.end() ? 0 : static_cast<int>(idle_slots(pool, it->second.id).size());
}

}  // namespace gf
