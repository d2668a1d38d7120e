#include "store/lease_table.h"

#include <algorithm>

namespace gf {

void LeaseTable::add(LeaseId id, Duration ttl, TimePoint now) {
  remove(id);
  leases_[id] = Lease{ttl, now + ttl};
  by_deadline_.insert({now + ttl, id});
}

bool LeaseTable::refresh(LeaseId id, TimePoint now) {
  auto it = leases_.find(id);
  if (it == leases_.end()) return false;
  by_deadline_.erase({it->second.deadline, id});
  it->second.deadline = now + it->second.ttl;
  by_deadline_.insert({it->second.deadline, id});
  return true;
}

void LeaseTable::remove(LeaseId id) {
  auto it = leases_.find(id);
  if (it == leases_.end()) return;
  by_deadline_.erase({it->second.deadline, id});
  leases_.erase(it);
}

std::optional<Duration> LeaseTable::ttl(LeaseId id) const {
  auto it = leases_.find(id);
  if (it == leases_.end()) return std::nullopt;
  return it->second.ttl;
}

std::optional<Duration> LeaseTable::remaining(LeaseId id, TimePoint now) const {
  auto it = leases_.find(id);
  if (it == leases_.end()) return std::nullopt;
  return std::max(Duration(0), it->second.deadline - now);
}

std::vector<LeaseId> LeaseTable::expired(TimePoint now) const {
  std::vector<LeaseId> out;
  for (const auto& [deadline, id] : by_deadline_) {
    if (deadline > now) break;
    out.push_back(id);
  }
  return out;
}

std::vector<LeaseId> LeaseTable::ids() const {
  std::vector<LeaseId> out;
  out.reserve(leases_.size());
  for (const auto& [id, lease] : leases_)
    out.push_back(id);
  return out;
}

}  // namespace gf
