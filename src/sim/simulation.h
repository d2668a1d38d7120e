// `gpufleet sim`'s engine: replays a trace through the live system's own decision objects — Fleet
// (placement, replica lifecycle), the Autoscaler, the gateway's Serving (admission, routing,
// retries) and one perf-model BatchEngine per replica — in virtual time. The loop only models what
// is physical (engines' iterations, process start-up, heartbeat and report periods) and jumps from
// one event to the next: an arrival, the end of an engine iteration, a heartbeat, or a core
// object's next_deadline(). Deterministic: the same inputs give the same result.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "common/spec.h"
#include "sim/scenario.h"
#include "sim/sim_options.h"
#include "sim/sim_result.h"
#include "sim/trace.h"

namespace gf {

struct SimInput {
  ClusterSpec cluster;                      // its nodes become simulated agents
  std::vector<DeploymentSpec> deployments;  // each serves the trace's requests for its model
  std::vector<TenantSpec> tenants;          // empty: every request is the anonymous tenant's
  const Trace* trace = nullptr;             // requests' models must be served by a deployment
  Scenario scenario;                        // faults to inject; its names must be the cluster's
};

// Errors: no trace, a deployment the fleet refuses, a request for a model no deployment serves,
// a tenant no spec defines, a scenario event naming a node, GPU or deployment that is not there.
// The run itself cannot fail: what goes wrong in it is measured.
Result<SimResult> simulate(const SimInput& input, const SimOptions& options);

// How much of the trace's opening simulate() replays before it (SimOptions::warmup, at most the
// whole trace): the requests arriving before it run twice, the first time unmeasured.
Duration warmup_length(const Trace& trace, const SimOptions& options);

}  // namespace gf
