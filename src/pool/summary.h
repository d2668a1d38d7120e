// Allocation summary: what the pool holds, per node and per GPU model, and how fragmented it is.
#pragma once

#include <map>
#include <string>

#include "pool/pool.h"

namespace gf {

struct CapacityTotals {
  int gpus = 0;
  int allocated = 0;    // holding at least one allocation (or reservation slot)
  int reserved = 0;     // of those, holding an idle reservation slot (a deployment's headroom)
  int idle = 0;         // usable and empty
  int unavailable = 0;  // Faulty, Probation or Lost
  int cordoned = 0;     // Cordoned or Draining
  MiB memory_total{0};
  MiB memory_committed{0};
  // Share of free whole GPUs that cannot join their node's largest free NVLink-connected set:
  // 0 = every free GPU can serve the largest tensor-parallel request its node allows.
  double fragmentation = 0.0;
  int free_in_largest_groups = 0;  // numerator helper, summed across nodes
};

struct PoolSummary {
  CapacityTotals total;
  std::map<std::string, CapacityTotals> by_node;
  std::map<std::string, CapacityTotals> by_model;
};

PoolSummary summarize(const Pool& pool);

}  // namespace gf
