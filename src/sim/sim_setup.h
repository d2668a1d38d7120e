// Turns what a user hands `gpufleet sim` into a run's input: the deployment a bare trace is served
// by, the trace's requests named after it, one scaling policy applied to every deployment for a
// comparison, and the lower bound's view of the workload.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "autoscale/lower_bound.h"
#include "common/result.h"
#include "common/spec.h"
#include "sim/sim_options.h"
#include "sim/simulation.h"
#include "sim/trace.h"

namespace gf {

// The deployment that serves a trace when none is given: `model` with `tp` GPUs per replica on the
// cluster's A100-80GB and H100-80GB GPUs (those the perf model knows for it), 1 to as many
// replicas as those GPUs hold, autoscaled by `target` on request rate with the perf model's
// sustainable rate for the trace's mean request as a replica's capacity, its engines' iteration
// budget `auto` for that request and `slo`. Errors: the cluster has no such GPU, or the perf
// model knows neither pair.
Result<DeploymentSpec> default_deployment(const ClusterSpec& cluster, const Trace& trace,
                                          const std::string& model, int tp, const SloTarget& slo);

// The engines' iteration budget (spec.h, engine.maxBatchedTokens) for every deployment, from
// --max-batched-tokens: "auto" (from `slo`, for the trace's mean request), "default"
// (the engine's own: vLLM's for the GPU) or a number of tokens; "" leaves each its own, except
// that engines without chunked prefill (`chunked` false) drop an `auto` they were not asked for
// by name. An error names the value when it is none of these.
Status set_iteration_budget(std::vector<DeploymentSpec>& deployments, const Trace& trace,
                            const SloTarget& slo, const std::string& value, bool chunked = true);

// Each deployment's engine iteration budget on each GPU model of the cluster it may use, as its
// engines get it (Fleet resolves `auto` the same way): for the report.
std::map<std::string, std::map<std::string, int64_t>> iteration_budgets(const SimInput& input);

// Names every request that names no model after the one deployment; with several deployments such
// a request is an error asking for a model mapping.
Status name_models(Trace& trace, const std::vector<DeploymentSpec>& deployments);

// The policies --compare accepts: the scaling policies' names, each one that sizes on a metric
// again as "NAME/work", and "fixed".
std::vector<std::string> comparable_policies();

// Every deployment under one policy: a scaling policy's name (each keeps its own autoscaling
// settings, or gets the defaults), "NAME/work" (the same on the work metric with a capacity of 1,
// one whole replica: docs/autoscaling.md), or "fixed" (no autoscaling, replicas.max of them
// throughout: provisioned for the peak). An `auto` iteration budget keeps the SLO targets it had,
// so the engines are the same under every policy. An unknown name is an error listing the known
// ones.
Result<std::vector<DeploymentSpec>> with_policy(std::vector<DeploymentSpec> deployments,
                                                const std::string& policy);

// The lower bound of the run's workload (autoscale/lower_bound.h): each deployment's requests on
// the GPU models its replicas may use in the cluster, summed.
WorkBound workload_bound(const SimInput& input, const SimOptions& options);

}  // namespace gf
