// What a simulation run is asked: the SLO it is judged by and how the modeled parts (process
// start, heartbeats, the end of the run) behave. Every decision comes from the core objects.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "common/units.h"
#include "perfmodel/perf_model.h"

namespace gf {

struct SimOptions {
  // A request meets the SLO when its TTFT and its time per output token are both within these.
  SloTarget slo{std::chrono::seconds(2), std::chrono::milliseconds(100)};
  double attainment_goal = 0.99;  // the share of requests the lower bound must serve within the SLO
  // Agents' heartbeats and gateways' traffic reports, as in the live system (docs/agent.md).
  Duration heartbeat = std::chrono::seconds(1);
  // A replica's cold start, the same model engine-sim uses: weights over the load bandwidth, then
  // the engine's own start.
  double load_bytes_per_second = 2e9;
  Duration engine_init = std::chrono::seconds(5);
  // The trace's first `warmup` is replayed once before it and not measured, so that every policy
  // meets the measured trace at the replica count its own rules settle on for that load, not at
  // replicas.min with everything cold (a deployment runs before its traffic comes). Zero: none.
  Duration warmup = std::chrono::minutes(10);
  // After the last arrival, requests still unfinished this much later end as failed (a fleet that
  // never got a replica placed would otherwise run forever).
  Duration max_tail = std::chrono::minutes(30);
  // Engines run their quiet decode iterations (nothing to admit, nothing finishing, nothing
  // arriving) in one step (BatchEngine::step with a budget). The results are the same byte for
  // byte; off, every iteration is its own event: the tests' and the benchmark's reference.
  bool batch_quiet_iterations = true;
  // Agents take the fleet's "unchanged" heartbeat answers and apply the last full set again, as
  // live agents do. The results are the same byte for byte; off, every heartbeat asks for and
  // gets the node's whole assignment: the tests' reference.
  bool unchanged_heartbeat_answers = true;
  // True: each request asks for its true output length as max_tokens, as a client that knows it
  // would. False: it sets none, and the gateway estimates its output at its default (256 tokens).
  // What admission's token budgets and least-work routing see of a request before it runs.
  bool exact_max_tokens = true;
  // Engines chunk prefills and mix them with decodes, as vLLM V1 does (BatchEngineConfig); false:
  // whole prefills in iterations of their own (vLLM V0 without chunked prefill). The lower bound
  // follows the same engine.
  bool chunked_prefill = true;
  // Called now and then with the share of the trace replayed (0..1), for a progress bar.
  std::function<void(double)> progress;
};

}  // namespace gf
