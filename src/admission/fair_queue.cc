#include "admission/fair_queue.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace gf {

namespace {

int64_t ceil_div(int64_t num, int64_t den) {
  return num / den + (num % den != 0 ? 1 : 0);
}

}  // namespace

Status FairQueue::set_weight(std::string_view tenant, int weight) {
  if (weight < 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("tenant {}: weight must be >= 1, got {}", tenant, weight));
  }
  weights_.insert_or_assign(std::string(tenant), weight);
  return {};
}

int FairQueue::weight(std::string_view tenant) const {
  auto it = weights_.find(tenant);
  return it == weights_.end() ? 1 : it->second;
}

int64_t FairQueue::quantum(const std::string& tenant) const {
  // At least one token, so a zero quantum in the config cannot stall the queue.
  return std::max<int64_t>(1, config_.quantum.value) * weight(tenant);
}

size_t FairQueue::size(std::string_view tenant) const {
  auto it = tallies_.find(tenant);
  return it == tallies_.end() ? 0 : it->second.length;
}

const QueueEntry* FairQueue::find(uint64_t id) const {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : &*it->second.it;
}

Status FairQueue::push(QueueEntry entry) {
  if (index_.count(entry.id)) {
    return make_error(ErrorCode::kAlreadyExists,
                      fmt::format("request {} is already queued", entry.id));
  }
  if (entry.cost.value < 0) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("request {}: negative token estimate {}", entry.id, entry.cost.value));
  }
  if (tenant_full(entry.tenant)) {
    return make_error(ErrorCode::kUnavailable,
                      fmt::format("tenant {} already has {} requests queued (the limit)",
                                  entry.tenant, size(entry.tenant)));
  }
  if (full()) {
    return make_error(ErrorCode::kUnavailable,
                      fmt::format("queue is full ({} requests)", config_.max_total));
  }
  Class& c = classes_[entry.priority];
  auto [fit, created] = c.flows.try_emplace(entry.tenant);
  Flow& f = fit->second;
  if (created) {
    f.tenant = entry.tenant;
    f.ring_pos = c.ring.insert(c.ring.end(), &f);
  }
  Tally& t = tallies_[entry.tenant];
  t.length += 1;
  t.tokens += entry.cost;
  by_deadline_.emplace(entry.deadline, entry.id);
  by_enqueued_.emplace(entry.enqueued, entry.id);
  const uint64_t id = entry.id;
  const int priority = entry.priority;
  auto it = f.entries.insert(f.entries.end(), std::move(entry));
  index_.emplace(id, Location{priority, &f, it});
  return {};
}

QueueEntry FairQueue::remove(uint64_t id) {
  auto idx = index_.find(id);
  const Location loc = idx->second;
  index_.erase(idx);
  QueueEntry e = std::move(*loc.it);
  Flow* f = loc.flow;
  f->entries.erase(loc.it);
  by_deadline_.erase({e.deadline, e.id});
  by_enqueued_.erase({e.enqueued, e.id});
  auto t = tallies_.find(e.tenant);
  t->second.length -= 1;
  t->second.tokens -= e.cost;
  if (t->second.length == 0) tallies_.erase(t);
  if (f->entries.empty()) {
    auto c = classes_.find(loc.priority);
    c->second.ring.erase(f->ring_pos);
    c->second.flows.erase(f->tenant);  // f dangles from here on
    if (c->second.flows.empty()) classes_.erase(c);
  }
  return e;
}

std::optional<QueueEntry> FairQueue::pop_class(Class& c, const Eligible& eligible) {
  std::vector<Flow*> order;
  for (;;) {
    // One pass over the ring in order: each eligible flow gets its visit, i.e. its quantum once,
    // then sends from its head while its deficit covers the head's cost. Ineligible flows are
    // passed over and keep their place and deficit.
    order.assign(c.ring.begin(), c.ring.end());
    bool any = false;
    for (Flow* f : order) {
      const QueueEntry& head = f->entries.front();
      if (eligible && !eligible(head)) continue;
      any = true;
      if (!f->granted) {
        f->deficit += quantum(f->tenant);
        f->granted = true;
      }
      if (head.cost.value <= f->deficit) {
        // The flow stays where it is with `granted` set, so the next pop continues its visit.
        f->deficit -= head.cost.value;
        return remove(head.id);
      }
      f->granted = false;
      c.ring.splice(c.ring.end(), c.ring, f->ring_pos);
    }
    if (!any) return std::nullopt;

    // A whole round served nobody: every eligible head costs more than its flow's deficit. Find
    // how many more rounds until the first flow could send, and grant all but the last of them at
    // once; the next pass is then that last round, exactly as if it had looped.
    int64_t rounds = std::numeric_limits<int64_t>::max();
    for (Flow* f : order) {
      if (eligible && !eligible(f->entries.front())) continue;
      const int64_t missing = f->entries.front().cost.value - f->deficit;
      rounds = std::min(rounds, ceil_div(missing, quantum(f->tenant)));
    }
    if (rounds > 1) {
      for (Flow* f : order) {
        if (eligible && !eligible(f->entries.front())) continue;
        f->deficit += (rounds - 1) * quantum(f->tenant);
      }
    }
  }
}

std::optional<QueueEntry> FairQueue::pop(const Eligible& eligible) {
  for (auto& [priority, c] : classes_) {
    if (auto e = pop_class(c, eligible)) return e;  // (pop_class may have erased c)
  }
  return std::nullopt;
}

bool FairQueue::has_eligible(const Eligible& eligible) const {
  for (const auto& [priority, c] : classes_) {
    for (const Flow* f : c.ring) {
      if (!eligible || eligible(f->entries.front())) return true;
    }
  }
  return false;
}

std::optional<QueueEntry> FairQueue::cancel(uint64_t id) {
  if (!index_.count(id)) return std::nullopt;
  return remove(id);
}

std::optional<TimePoint> FairQueue::next_deadline() const {
  if (by_deadline_.empty()) return std::nullopt;
  return by_deadline_.begin()->first;
}

std::vector<QueueEntry> FairQueue::expire(TimePoint now) {
  std::vector<QueueEntry> out;
  while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
    out.push_back(remove(by_deadline_.begin()->second));
  }
  return out;
}

FairQueueStats FairQueue::stats(TimePoint now) const {
  FairQueueStats s;
  s.length = index_.size();
  if (!by_enqueued_.empty())
    s.oldest_wait = std::max(Duration::zero(), now - by_enqueued_.begin()->first);
  for (const auto& [tenant, t] : tallies_) {
    TenantQueueStats& ts = s.tenants[tenant];
    ts.length = t.length;
    ts.tokens = t.tokens;
    s.tokens += t.tokens;
  }
  // Each flow is FIFO, so a tenant's oldest entry is the head of one of its flows.
  for (const auto& [priority, c] : classes_) {
    for (const auto& [tenant, f] : c.flows) {
      const Duration wait = std::max(Duration::zero(), now - f.entries.front().enqueued);
      TenantQueueStats& ts = s.tenants[tenant];
      ts.oldest_wait = std::max(ts.oldest_wait, wait);
    }
  }
  return s;
}

}  // namespace gf
