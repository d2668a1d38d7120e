// LeaseTable: the deadlines of a store's leases, in memory. Backends keep the leases themselves
// (id, ttl) durably; deadlines are not persisted because a reopened store restarts every lease's
// full TTL (as etcd does after a leader change), so a keepalive costs no disk write.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "common/units.h"
#include "store/state_store.h"

namespace gf {

class LeaseTable {
 public:
  // Adds (or replaces) a lease expiring at now + ttl.
  void add(LeaseId id, Duration ttl, TimePoint now);
  // Restarts the lease's TTL from now; false when it is unknown.
  bool refresh(LeaseId id, TimePoint now);
  void remove(LeaseId id);

  bool contains(LeaseId id) const { return leases_.count(id) > 0; }
  std::optional<Duration> ttl(LeaseId id) const;
  // Time left, never negative; nullopt when unknown.
  std::optional<Duration> remaining(LeaseId id, TimePoint now) const;
  // Leases whose deadline is at or before now, soonest first.
  std::vector<LeaseId> expired(TimePoint now) const;
  std::vector<LeaseId> ids() const;
  size_t size() const { return leases_.size(); }

 private:
  struct Lease {
    Duration ttl;
    TimePoint deadline;
  };
  std::map<LeaseId, Lease> leases_;
  std::set<std::pair<TimePoint, LeaseId>> by_deadline_;
};

}  // namespace gf
