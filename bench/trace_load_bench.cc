// Loading a whole trace file: what `gpufleet sim` pays before its first virtual second. Reads the
// real traces in ../shared/data/traces (see its README) from disk each iteration (the page cache
// keeps them in memory after the first), parses, sorts and rebases them.
#include <benchmark/benchmark.h>

#include <string>

#include "sim/trace_loader.h"

namespace {

const std::string kTraces = std::string(GPUFLEET_SOURCE_DIR) + "/../shared/data/traces/";

void load(benchmark::State& state, const std::string& file) {
  const std::string path = kTraces + file;
  size_t requests = 0;
  for (auto _ : state) {
    auto t = gf::load_trace(path);
    if (!t) {
      state.SkipWithError(t.error().message.c_str());
      return;
    }
    requests = t->trace.requests.size();
    benchmark::DoNotOptimize(t->trace.requests.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * requests));
  state.counters["requests"] = static_cast<double>(requests);
}

void BM_LoadAzureConv(benchmark::State& state) {
  load(state, "azure_llm_2023_conv.csv");
}
void BM_LoadMooncakeConversation(benchmark::State& state) {
  load(state, "mooncake_fast25_conversation.jsonl");
}
void BM_LoadMooncakeSynthetic(benchmark::State& state) {
  load(state, "mooncake_fast25_synthetic.jsonl");
}

BENCHMARK(BM_LoadAzureConv)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadMooncakeConversation)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadMooncakeSynthetic)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
