// Warm reserves: GPUs held idle for one deployment's bursts (its `reserveReplicas`) through the
// pool's reservations, so that its scale-ups start without waiting for anyone else's GPUs.
#pragma once

#include <map>
#include <string>

#include "common/spec.h"
#include "placement/scheduler.h"
#include "pool/pool.h"

namespace gf {

// Keeps, per deployment, `reserveReplicas` idle slots of its replicas' shape. A replica of the
// deployment takes a slot before any other GPU (the scheduler's first pre-check); the slot is then
// in use and a new one is held from free capacity, so the headroom is back once GPUs allow. Not
// persisted: after a restart the reserves are held again from what is free.
class WarmReserves {
 public:
  // Brings the deployment's reserve to `spec.reserve_replicas` idle slots: creates its
  // reservation, starts a new one when the replicas' shape changed (slots in use stay with their
  // replicas), gives back idle slots that are extra or on GPUs that take no new replica, and holds
  // missing ones from free capacity unless `grow` is false. Never preempts: headroom is not demand.
  void sync(Pool& pool, const Scheduler& scheduler, const DeploymentSpec& spec, TimePoint now,
            bool grow = true);
  // Gives back the deployment's idle slots; slots in use are freed with their replicas.
  void remove(Pool& pool, const std::string& deployment, TimePoint now);
  // Idle slots held for the deployment now.
  int idle(const Pool& pool, const std::string& deployment) const;

 private:
  struct Held {
    ReservationId id;
    AllocationRequest shape;  // what each slot was held for
  };
  std::map<std::string, Held> held_;
};

}  // namespace gf
