// FairQueue: requests waiting for capacity, per tenant, served by strict priority class and,
// within a class, by deficit round robin on estimated tokens with per-tenant weights. Bounded per
// tenant and in total; entries expire at their deadline and can be cancelled.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/units.h"

namespace gf {

struct QueueEntry {
  uint64_t id = 0;  // opaque: the gateway's handle for its pending request; unique in the queue
  std::string tenant;
  int priority = 0;  // class: every entry of a higher class leaves before any of a lower one
  Tokens cost{0};    // estimated tokens (prompt + max_tokens): what DRR charges the tenant
  TimePoint enqueued{};
  TimePoint deadline{};  // expire() removes it at or after this time
};

struct FairQueueConfig {
  size_t max_per_tenant = 256;  // entries of one tenant, all classes together
  size_t max_total = 4096;
  // DRR quantum of a weight-1 tenant: the tokens it may send per round. A tenant of weight w gets
  // w * quantum. Rounds that would serve nobody are skipped in one step, so a small quantum costs
  // no loop iterations. It must be small next to requests: with a quantum larger than what a
  // tenant has queued, every visit drains every queue and service follows queue lengths, not
  // weights (a closed-loop client with 8 requests outstanding then gets as much as one with
  // weight 3 — measured: 257 vs 143 instead of 100 vs 300 at a quantum of 1,024 tokens).
  Tokens quantum{1};
};

struct TenantQueueStats {
  size_t length = 0;
  Tokens tokens{0};
  Duration oldest_wait{0};
};

// What is waiting: the demand the gateway reports to the controller (and, for a model scaled to
// zero, to the activator).
struct FairQueueStats {
  size_t length = 0;
  Tokens tokens{0};
  Duration oldest_wait{0};  // zero when empty
  std::map<std::string, TenantQueueStats, std::less<>> tenants;
};

class FairQueue {
 public:
  // Whether an entry may leave now (e.g. its tenant is under its concurrency cap). An entry that
  // may not is skipped, and its tenant keeps its place and unspent credit.
  using Eligible = std::function<bool(const QueueEntry&)>;

  explicit FairQueue(FairQueueConfig config = {}) : config_(config) {}
  // Flows point into the queue's own containers: moving keeps them valid, copying would not.
  FairQueue(const FairQueue&) = delete;
  FairQueue& operator=(const FairQueue&) = delete;
  FairQueue(FairQueue&&) = default;
  FairQueue& operator=(FairQueue&&) = default;

  // A tenant's fair-share weight (>= 1, default 1), used from its next round on.
  Status set_weight(std::string_view tenant, int weight);
  int weight(std::string_view tenant) const;

  // Errors: kAlreadyExists for an id already queued, kInvalidArgument for a negative cost,
  // kUnavailable when the tenant's bound or the total bound is reached (nothing changes).
  Status push(QueueEntry entry);

  // The next entry to send, removed from the queue; nullopt when nothing (eligible) waits.
  std::optional<QueueEntry> pop(const Eligible& eligible = nullptr);
  // Would pop() return something? Changes nothing.
  bool has_eligible(const Eligible& eligible = nullptr) const;

  // Removes a waiting entry (its client went away); nullopt when the id is not queued.
  std::optional<QueueEntry> cancel(uint64_t id);
  // Removes and returns every entry whose deadline is at or before `now`, earliest first.
  std::vector<QueueEntry> expire(TimePoint now);
  // The earliest deadline of a waiting entry (when expire() next has something to do); nullopt
  // when empty.
  std::optional<TimePoint> next_deadline() const;

  size_t size() const { return index_.size(); }
  size_t size(std::string_view tenant) const;
  bool empty() const { return index_.empty(); }
  bool tenant_full(std::string_view tenant) const { return size(tenant) >= config_.max_per_tenant; }
  bool full() const { return size() >= config_.max_total; }
  const QueueEntry* find(uint64_t id) const;
  FairQueueStats stats(TimePoint now) const;
  const FairQueueConfig& config() const { return config_; }

 private:
  // One tenant's FIFO within one priority class. Exists only while it holds entries: an emptied
  // flow forgets its deficit, as DRR requires (idle time must not bank credit).
  struct Flow {
    std::string tenant;
    std::list<QueueEntry> entries;
    int64_t deficit = 0;   // tokens it may still send in the current visit
    bool granted = false;  // received its quantum for the current visit
    std::list<Flow*>::iterator ring_pos;
  };
  struct Class {
    std::map<std::string, Flow, std::less<>> flows;
    std::list<Flow*> ring;  // round-robin order; a visit ends by moving the flow to the back
  };
  struct Location {
    int priority = 0;
    Flow* flow = nullptr;
    std::list<QueueEntry>::iterator it;
  };
  struct Tally {
    size_t length = 0;
    Tokens tokens{0};
  };

  int64_t quantum(const std::string& tenant) const;
  std::optional<QueueEntry> pop_class(Class& c, const Eligible& eligible);
  QueueEntry remove(uint64_t id);

  FairQueueConfig config_;
  std::map<int, Class, std::greater<>> classes_;  // highest priority first; non-empty only
  std::unordered_map<uint64_t, Location> index_;
  std::set<std::pair<TimePoint, uint64_t>> by_deadline_;
  std::set<std::pair<TimePoint, uint64_t>> by_enqueued_;
  std::map<std::string, Tally, std::less<>> tallies_;  // tenants with entries only
  std::map<std::string, int, std::less<>> weights_;
};

}  // namespace gf
