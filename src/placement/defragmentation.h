// Defragmentation's plan: when a multi-GPU request fits on no node although enough GPUs are free
// across the fleet, the fewest moves of smaller allocations that free one node for it. Pure: it
// reads the pool, asks the scheduler where each mover would go on the pool as the plan leaves it,
// and returns the plan; the caller carries it out (the fleet make-before-break, the
// fragmentation replay at once). One planner for both, so the replay measures what runs.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "placement/scheduler.h"
#include "pool/pool.h"

namespace gf {

struct DefragMove {
  AllocationId from;  // the allocation that moves (released once its copy elsewhere serves)
  Candidate to;       // where the scheduler would put its copy
};

struct DefragPlan {
  Candidate placement;            // where the request goes once the movers are gone
  std::vector<DefragMove> moves;  // fewest found
  int free_gpus = 0;              // GPUs of the request's models free across the pool, for reasons
  int most_free_on_a_node = 0;    // ... and the most on one node
};

struct DefragOptions {
  int max_moves = 4;
  // The caller's rule on top of "smaller than the request, not a reservation slot, not in one":
  // false keeps the allocation where it is. Empty: every such allocation may move.
  std::function<bool(const Allocation&)> may_move;
};

// nullopt when the request is a share or a single GPU (nothing to gather), places as it is, the
// pool has fewer free GPUs of its models than it needs, or no node frees up within max_moves
// moves whose allocations all fit elsewhere. Nodes are tried by the GPUs their movers hold,
// fewest first; a node's movers are the allocations on its GPUs that are fewest to move.
std::optional<DefragPlan> plan_defragmentation(const Scheduler& scheduler, const Pool& pool,
                                               const AllocationRequest& request,
                                               const DefragOptions& options, TimePoint now);

}  // namespace gf
