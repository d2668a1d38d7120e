// The simulator's core loop alone: one hour of the Azure conversation trace (loaded once, outside
// the timing) replayed through simulate() under `target` and under `fixed`, on the 48-GPU
// examples/sim-cluster.yaml shape with the default Llama-2-70B deployment. items/s = simulated
// requests per second; "x real time" = the trace's span over the time per replay. The *Stepwise
// cases run every engine iteration as its own event (no quiet runs in one step): the baseline in
// the same run for what batching quiet iterations gains.
#include <benchmark/benchmark.h>

#include <string>

#include "sim/sim_setup.h"
#include "sim/simulation.h"
#include "sim/trace_loader.h"

namespace {

const std::string kTrace =
    std::string(GPUFLEET_SOURCE_DIR) + "/../shared/data/traces/azure_llm_2023_conv.csv";

gf::ClusterSpec cluster() {
  gf::ClusterSpec c;
  for (int n = 0; n < 6; ++n) {
    const bool a100 = n < 4;
    gf::NodeSpec node{"n" + std::to_string(n), {}, {}, {{0, 1, 2, 3, 4, 5, 6, 7}}};
    node.gpus.push_back(gf::GpuGroupSpec{
        a100 ? "A100-80GB" : "H100-80GB", 8, gf::MiB{81920}, a100 ? 1.8 : 3.2, {}});
    c.nodes.push_back(node);
  }
  c.placement.gpu_prices = {{"A100-80GB", 1.8}, {"H100-80GB", 3.2}};
  return c;
}

void replay(benchmark::State& state, const std::string& policy, bool batch = true) {
  auto loaded = gf::load_trace(kTrace);
  if (!loaded) {
    state.SkipWithError(loaded.error().message.c_str());
    return;
  }
  gf::Trace& trace = loaded->trace;
  gf::SimInput in;
  in.cluster = cluster();
  auto d = gf::default_deployment(in.cluster, trace, "meta-llama/Llama-2-70b-hf", 4, {});
  if (!d || !gf::name_models(trace, {*d}).ok()) {
    state.SkipWithError("no default deployment");
    return;
  }
  auto deployments = gf::with_policy({*d}, policy);
  in.deployments = *deployments;
  in.trace = &trace;
  gf::SimOptions options;
  options.warmup = gf::Duration::zero();
  options.batch_quiet_iterations = batch;
  double span = 0;
  for (auto _ : state) {
    auto r = gf::simulate(in, options);
    if (!r) {
      state.SkipWithError(r.error().message.c_str());
      return;
    }
    span = r->simulated_seconds;
    benchmark::DoNotOptimize(r->overall.gpu_hours);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * trace.requests.size()));
  state.counters["x_real_time"] = benchmark::Counter(span * static_cast<double>(state.iterations()),
                                                     benchmark::Counter::kIsRate);
}

void BM_SimAzureHourTarget(benchmark::State& state) {
  replay(state, "target");
}
void BM_SimAzureHourFixed(benchmark::State& state) {
  replay(state, "fixed");
}

void BM_SimAzureHourTargetStepwise(benchmark::State& state) {
  replay(state, "target", false);
}
void BM_SimAzureHourFixedStepwise(benchmark::State& state) {
  replay(state, "fixed", false);
}

BENCHMARK(BM_SimAzureHourTarget)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SimAzureHourTargetStepwise)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SimAzureHourFixed)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SimAzureHourFixedStepwise)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
