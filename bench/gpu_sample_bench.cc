// Cost of one telemetry sample: NvmlProvider::sample() through the fake libnvidia-ml.so.1 at 1 and
// 8 GPUs (per_gpu = time per GPU), the in-process FakeProvider, and, as the floor of what an
// `nvidia-smi` call costs, spawning and reaping a process that does nothing (/bin/true). With
// GPUFLEET_NVML_LIBRARY=libnvidia-ml.so.1 it also measures the real NVML of the machine.
// Built with GPUFLEET_BENCH=ON; figures in docs/gpu.md.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <map>
#include <string>

#include "../tests/fakes/fake_nvml_state.h"
#include "gpu/fake_provider.h"
#include "gpu/nvml_provider.h"

extern char** environ;

namespace {

std::map<std::string, std::string> gpus(int n) {
  std::map<std::string, std::string> kv{{"count", std::to_string(n)}};
  const std::pair<const char*, std::string> fields[] = {
      {"util", "73"},
      {"temp", "61"},
      {"power_mw", "512000"},
      {"memory_used", std::to_string(40ull << 30)},
      {"ecc_dbe", "0"}};
  for (int i = 0; i < n; ++i) {
    for (const auto& [field, value] : fields)
      kv.emplace(fmt::format("gpu{}.{}", i, field), value);
  }
  return kv;
}

void per_gpu_counter(benchmark::State& state, int n) {
  state.counters["per_gpu"] = benchmark::Counter(
      n, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_NvmlSample(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  gf::testing::FakeNvmlState file(gpus(n));
  gf::NvmlOptions options;
  options.library = gf::testing::fake_nvml_library();
  options.watch_xids = state.range(1) != 0;
  gf::NvmlProvider nvml(options);
  auto d = nvml.discover();
  if (!d.ok()) {
    state.SkipWithError(d.error().message.c_str());
    return;
  }
  for (auto _ : state) {
    auto s = nvml.sample();
    if (!s.ok() || static_cast<int>(s->size()) != n || !s->front().temperature_c) {
      state.SkipWithError("sample failed");
      return;
    }
    benchmark::DoNotOptimize(s);
  }
  per_gpu_counter(state, n);
}
BENCHMARK(BM_NvmlSample)
    ->ArgNames({"gpus", "xid_thread"})
    ->Args({1, 0})
    ->Args({8, 0})
    ->Args({8, 1})
    ->Unit(benchmark::kMicrosecond);

// The same against a real NVML when $GPUFLEET_NVML_LIBRARY names one (e.g. libnvidia-ml.so.1 on a
// GPU node); skipped otherwise.
void BM_NvmlSampleRealLibrary(benchmark::State& state) {
  const char* library = std::getenv("GPUFLEET_NVML_LIBRARY");
  gf::NvmlOptions options;
  options.library = library;
  options.watch_xids = false;
  gf::NvmlProvider nvml(options);
  auto d = nvml.discover();
  if (!d.ok() || d->empty()) {
    state.SkipWithError(d.ok() ? "no GPUs" : d.error().message.c_str());
    return;
  }
  const int n = static_cast<int>(d->size());
  for (auto _ : state) {
    auto s = nvml.sample();
    benchmark::DoNotOptimize(s);
  }
  state.counters["gpus"] = n;
  per_gpu_counter(state, n);
}
// Registered only when asked for, so runs without a GPU show no skipped entry.
const bool kRealLibraryRegistered = [] {
  const char* library = std::getenv("GPUFLEET_NVML_LIBRARY");
  if (library == nullptr || *library == '\0') return false;
  benchmark::RegisterBenchmark("BM_NvmlSampleRealLibrary", BM_NvmlSampleRealLibrary)
      ->Unit(benchmark::kMicrosecond);
  return true;
}();

void BM_FakeProviderSample(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  gf::NodeSpec node;
  node.name = "bench";
  node.gpus.push_back(gf::GpuGroupSpec{"H100-80GB", n, gf::MiB(80 * 1024), 1.0, {}});
  auto fake = gf::FakeProvider::create(node);
  if (!fake.ok()) {
    state.SkipWithError(fake.error().message.c_str());
    return;
  }
  for (auto _ : state) {
    auto s = (*fake)->sample();
    benchmark::DoNotOptimize(s);
  }
  per_gpu_counter(state, n);
}
BENCHMARK(BM_FakeProviderSample)->ArgName("gpus")->Arg(8)->Unit(benchmark::kMicrosecond);

// The least any `nvidia-smi --query-gpu=...` call costs: fork/exec/wait of a program that does
// nothing, before nvidia-smi's own NVML initialisation and driver queries.
void BM_SpawnTrue(benchmark::State& state) {
  char arg0[] = "/bin/true";
  char* argv[] = {arg0, nullptr};
  for (auto _ : state) {
    pid_t pid = 0;
    if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) != 0) {
      state.SkipWithError("posix_spawn /bin/true failed");
      return;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    benchmark::DoNotOptimize(status);
  }
}
BENCHMARK(BM_SpawnTrue)->Unit(benchmark::kMicrosecond);

}  // namespace
