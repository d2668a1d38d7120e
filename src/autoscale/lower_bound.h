// The fewest GPU-hours any policy could spend on a workload: the bound `gpufleet sim` measures
// every scaling policy against. Two figures, both true lower bounds for the iteration model of
// perfmodel/batch_engine.h (docs/simulator.md, "The lower bound", derives them):
//   - the work floor: every prompt token at the best prefill rate and every output token at the
//     best batched decode rate, on the best GPU for each request;
//   - the clairvoyant bound: the same work priced per request with the cost model's own terms
//     (quadratic attention, context-proportional decode, an iteration's fixed cost shared only by
//     the requests whose SLO windows overlap it), replicas started instantly and never idle, and
//     the share of requests the SLO may miss left out (the costliest ones: those a policy would
//     best drop), and each request priced only on shapes where it could meet the SLO at all.
// Also the largest share of requests any policy can serve within the SLO: a request longer than
// every KV cache, or one that misses the SLO even alone on an idle replica, misses under any
// policy. Pure arithmetic over the requests; no simulation.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "perfmodel/perf_model.h"

namespace gf {

// One request as the bound sees it.
struct WorkItem {
  Tokens prompt{0};
  Tokens output{0};
  // Prompt tokens that a prefix cache could have held when it arrived: its leading blocks that
  // some other request of the workload also has (0 without prefix caching).
  Tokens cacheable{0};
  // Its leading prompt tokens that any other request of the workload also has, whenever it comes
  // (>= cacheable): what a prefix cache could hold when a preempted request recomputes.
  Tokens shareable{0};
  // When it reaches the gateway. The requests that share an iteration with it must all be within
  // their SLO windows then, which caps how widely the iteration's fixed cost is shared.
  Duration arrival{0};
};

// A GPU model a deployment's replicas may run on, with what one replica there is.
struct ReplicaShape {
  std::string gpu;
  int gpus = 1;                   // per replica (tensor parallel)
  double price_per_gpu_hour = 0;  // 0: unknown (the bound's cost then counts it as free)
  PerfCoefficients coef;
  Tokens kv_capacity{0};  // per replica; 0: unlimited
  int block_tokens = 16;
  int max_num_seqs = PerfModel::kMaxBatch;
  Tokens max_batched_tokens{8192};
  // Its engine mixes prompt chunks and decodes in one iteration (BatchEngineConfig's
  // chunked_prefill): a decode there pays no fixed cost of its own, so the bound charges none.
  bool chunked_prefill = true;
};

struct WorkBound {
  double work_floor_gpu_hours = 0;
  double lower_bound_gpu_hours = 0;  // never below the work floor
  double lower_bound_cost = 0;       // the cheapest GPUs per request, at their prices
  size_t requests = 0;               // in the workload
  size_t exempt = 0;                 // requests left out for the SLO's allowed misses
  size_t unservable = 0;             // requests no shape can hold (left out: nobody serves them)
  // Requests some shape holds but none serves within the SLO, even alone on an idle replica: its
  // own prefill outlasts the TTFT target, or its own decode iterations the TPOT target. They miss
  // under any policy, so the bound leaves them out with the unservable ones.
  size_t beyond_slo = 0;

  // The largest share of requests any policy can serve within the SLO (1 with no requests).
  double max_attainment() const;
};

// `attainment`: the share of requests that must meet the SLO, in (0, 1]; `slo`: the targets a
// request must meet (the simulator's recorder applies the same two). Where the goal is above
// max_attainment(), the bound prices every request that can meet the SLO. With no shape, zero.
WorkBound lower_bound_of(std::span<const WorkItem> work, std::span<const ReplicaShape> shapes,
                         double attainment, const SloTarget& slo);

// Marks each request's cacheable prompt tokens: for chained 512-token block ids (Mooncake's
// hash_ids), the leading blocks that another request also has and could have finished before
// this one's TTFT target: one arriving at most `reach` (the TTFT target) after it. The engines
// keep a prompt's blocks only once its request finishes. Index i of the result is request i's;
// `blocks[i]` its block ids, `arrivals[i]` its arrival.
std::vector<Tokens> cacheable_prefix(std::span<const std::vector<uint64_t>> blocks,
                                     std::span<const Tokens> prompts,
                                     std::span<const Duration> arrivals, Duration reach,
                                     Tokens block_tokens);

}  // namespace gf
