// Priority preemption's bookkeeping in the fleet: which pending replica waits for which preempted
// replicas to drain, and which deployments lost replicas to whom. The Fleet asks the scheduler for
// a plan, drains the victims and places the replica once they are gone; this keeps the plans in
// flight between ticks so that no replica drains more victims while earlier ones still drain.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "placement/plugin.h"
#include "pool/pool.h"

namespace gf {

struct PreemptionVictim {
  std::string replica;
  AllocationId allocation;
  // The warm-reserve slot the replica runs in, if any: released once the replica is gone, since
  // the preemptor counts on its GPUs (the reserve holds new slots from free capacity later).
  AllocationId slot;
};

// One pending replica's plan, from the drain of its victims until their GPUs are free.
struct PreemptionInFlight {
  AllocationRequest request;              // the pending replica's
  Candidate where;                        // where the plan puts it once the victims are gone
  std::vector<PreemptionVictim> victims;  // still holding their GPUs
  // Defragmentation: the victims move (a copy elsewhere first) rather than give way. The same
  // bookkeeping holds the GPUs for the replica meanwhile.
  bool moves = false;
};

class Preemptions {
 public:
  bool empty() const { return plans_.empty(); }
  const PreemptionInFlight* find(const std::string& replica) const;
  void start(const std::string& replica, PreemptionInFlight plan);
  // Forgets victims that no longer hold GPUs, then plans with no victim left (the replica can be
  // placed now) and plans whose replica no longer waits. Returns the replicas whose plans were
  // carried out: placed first, before anyone else takes what their victims freed.
  std::vector<std::string> settle(const std::function<bool(const std::string& replica)>& waiting,
                                  const std::function<bool(const PreemptionVictim&)>& holds_gpus);
  // The pool as it will be once every plan in flight is carried out: victims released, replicas
  // placed where planned. New plans are made on it, so that two pending replicas never count on
  // the same victim and a victim already draining is not preempted twice.
  Pool after_plans(const Pool& pool, TimePoint now) const;
  // The pool with the GPUs each plan counts on that are free already held for it, so that nobody
  // else — a lower priority's replacement, a warm reserve — takes them while its victims drain
  // (then it would preempt again, forever). Replicas without a plan of their own are placed on it.
  Pool promised(const Pool& pool, TimePoint now) const;

  // The deployment lost `count` more replicas to a preemptor; `why` names it. Its replacements
  // carry the note while they wait, until as many of its replicas have been placed.
  void note_victims(const std::string& deployment, int count, std::string why);
  // The note for a deployment's waiting replicas, or "" when none.
  std::string note(const std::string& deployment) const;
  void placed(const std::string& deployment);
  void forget_deployment(const std::string& deployment);

 private:
  struct Note {
    int count = 0;
    std::string why;
  };
  std::map<std::string, PreemptionInFlight> plans_;  // by pending replica id
  std::map<std::string, Note> notes_;                // by victims' deployment
};

}  // namespace gf
