// Placement decisions per second and p50/p99 latency at 100, 1,000 and 10,000 GPUs: the indexed
// Scheduler against a placer that scans every GPU, both churning a cluster held at ~70% occupancy.
// Only the placement call is timed (manual time); commit and release happen outside the clock.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "naive_placer.h"
#include "placement/scheduler.h"

namespace {

using namespace gf;

constexpr double kOccupancy = 0.70;  // share of GPU memory committed, held steady while churning
constexpr size_t kRequestRing = 8192;

// Node shapes of a mixed fleet: 8-GPU NVSwitch boxes, 4-GPU NVLink pairs and PCIe-only cards.
struct Shape {
  const char* model;
  int count;
  int gib;
  double price;
  std::vector<std::vector<int>> nvlink;
};
const std::vector<Shape> kShapes = {
    {"A100-80GB", 8, 80, 1.8, {{0, 1, 2, 3, 4, 5, 6, 7}}},
    {"H100-80GB", 8, 80, 3.2, {{0, 1, 2, 3, 4, 5, 6, 7}}},
    {"H100-80GB", 4, 80, 3.2, {{0, 1}, {2, 3}}},
    {"L40S", 4, 48, 1.0, {}},
    {"A10G", 4, 24, 0.6, {}},
};
const std::vector<std::string> kModels = {"A100-80GB", "H100-80GB", "L40S", "A10G"};

// `rng() % n` rather than std distributions: the same sequence with every standard library.
uint64_t pick(std::mt19937_64& rng, uint64_t n) {
  return rng() % n;
}

ClusterSpec make_cluster(int gpus, std::mt19937_64& rng) {
  ClusterSpec spec;
  spec.name = "bench";
  int total = 0;
  while (total < gpus) {
    // Take an 8-GPU shape only while it still fits, so the total is exactly `gpus`.
    const Shape* s = &kShapes[pick(rng, kShapes.size())];
    while (s->count > gpus - total)
      s = &kShapes[pick(rng, kShapes.size())];
    NodeSpec n;
    n.name = "node-" + std::to_string(spec.nodes.size());
    n.gpus.push_back(GpuGroupSpec{s->model, s->count, MiB(int64_t{s->gib} * 1024), s->price, {}});
    n.nvlink_groups = s->nvlink;
    spec.nodes.push_back(std::move(n));
    total += s->count;
  }
  return spec;
}

// Half shares of 10-40 GiB, then 1, 2, 4 and 8 whole GPUs; half accept any model.
AllocationRequest random_request(std::mt19937_64& rng) {
  AllocationRequest r;
  r.deployment = "bench";
  r.model = "llm-" + std::to_string(pick(rng, 16));  // gives warm-affinity something to find
  int kind = static_cast<int>(pick(rng, 100));
  if (kind < 50) {
    r.memory_per_gpu = MiB(int64_t(10 + pick(rng, 31)) * 1024);
  } else {
    r.gpus = kind < 75 ? 1 : kind < 88 ? 2 : kind < 96 ? 4 : 8;
    if (r.gpus > 1 && pick(rng, 3) == 0) r.topology = TopologyPolicy::kAny;
  }
  if (pick(rng, 2) == 0) {
    std::vector<std::string> models = kModels;
    std::shuffle(models.begin(), models.end(), rng);
    models.resize(1 + pick(rng, 2));
    r.gpu_models = models;
  }
  return r;
}

int64_t committed_mib(const Pool& pool, AllocationId id) {
  const Allocation* a = pool.allocation(id);
  return a->memory_per_gpu.value * static_cast<int64_t>(a->gpus.size());
}

// A cluster filled to kOccupancy by the scheduler, and the requests the timed loop cycles through.
// Built once per size and copied into each run, so every run starts from the same state.
struct Setup {
  Pool pool;
  std::vector<AllocationRequest> requests;
  std::vector<AllocationId> live;
  int64_t committed = 0;
  int64_t target = 0;
};

const Setup& setup_for(int gpus) {
  static std::map<int, std::unique_ptr<Setup>> cache;
  auto& slot = cache[gpus];
  if (slot) return *slot;
  std::mt19937_64 rng(42);
  ClusterSpec spec = make_cluster(gpus, rng);
  Scheduler sched = Scheduler::create(PlacementSpec{}).value();
  auto s = std::make_unique<Setup>(Setup{Pool::from_spec(spec, TimePoint{}).value(), {}, {}, 0, 0});
  // Only requests that fit the empty cluster: an infeasible one measures error reporting, not
  // placement (an 8-GPU request for PCIe-only L40S nodes, say).
  while (s->requests.size() < kRequestRing) {
    AllocationRequest r = random_request(rng);
    if (sched.place(s->pool, r).placed()) s->requests.push_back(std::move(r));
  }
  int64_t total = 0;
  for (uint32_t g = 0; g < s->pool.gpu_count(); ++g)
    total += s->pool.gpu(GpuIndex{g}).memory_total.value;
  s->target = static_cast<int64_t>(kOccupancy * static_cast<double>(total));
  for (size_t i = 0; s->committed < s->target && i < 100 * kRequestRing; ++i) {
    const AllocationRequest& r = s->requests[pick(rng, s->requests.size())];
    auto id = sched.schedule(s->pool, r, TimePoint{});
    if (!id) continue;
    s->live.push_back(*id);
    s->committed += committed_mib(s->pool, *id);
  }
  slot = std::move(s);
  return *slot;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0.0;
  size_t k = static_cast<size_t>(p * static_cast<double>(v.size()));
  k = std::min(k, v.size() - 1);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// Each iteration: place one request (timed), commit it, then release random live allocations
// until occupancy is back at the target.
template <class Place>
void churn(benchmark::State& state, Place place) {
  const Setup& setup = setup_for(static_cast<int>(state.range(0)));
  Pool pool = setup.pool;
  std::vector<AllocationId> live = setup.live;
  int64_t committed = setup.committed;
  std::mt19937_64 rng(7);
  std::vector<double> micros;
  micros.reserve(static_cast<size_t>(state.max_iterations));
  int64_t failed = 0;
  size_t next = 0;
  double fail_us = 0;
  std::vector<double> placed_micros;
  placed_micros.reserve(micros.capacity());
  for (auto _ : state) {
    const AllocationRequest& r = setup.requests[next++ % setup.requests.size()];
    auto t0 = std::chrono::steady_clock::now();
    std::optional<Candidate> c = place(pool, r);
    auto t1 = std::chrono::steady_clock::now();
    double seconds = std::chrono::duration<double>(t1 - t0).count();
    state.SetIterationTime(seconds);
    micros.push_back(seconds * 1e6);
    if (!c) {
      ++failed;
      fail_us += seconds * 1e6;
      continue;
    }
    placed_micros.push_back(seconds * 1e6);
    auto id = pool.commit(r, c->node, c->gpus(pool), TimePoint{});
    if (!id) {
      state.SkipWithError(("commit refused a placement: " + id.error().describe()).c_str());
      return;
    }
    live.push_back(*id);
    committed += committed_mib(pool, *id);
    while (committed > setup.target && !live.empty()) {
      size_t i = pick(rng, live.size());
      committed -= committed_mib(pool, live[i]);
      (void)pool.release(live[i], TimePoint{});
      live[i] = live.back();
      live.pop_back();
    }
  }
  // items_per_second counts every decision, placed or not. A failed decision costs far more (the
  // scheduler then explains itself and plans preemption over the whole pool), so placed-only p99
  // and the mean cost of a failure are reported apart.
  state.SetItemsProcessed(state.iterations());
  state.counters["gpus"] = static_cast<double>(pool.gpu_count());
  state.counters["fail_pct"] = 100.0 * static_cast<double>(failed) / static_cast<double>(next);
  state.counters["p50_us"] = percentile(micros, 0.50);
  state.counters["p99_us"] = percentile(micros, 0.99);
  state.counters["p99_placed_us"] = percentile(placed_micros, 0.99);
  state.counters["fail_mean_us"] = failed ? fail_us / failed : 0;
}

// The scheduler as the controller runs it: every decision explained, preemption planned on failure.
void BM_PlaceIndexed(benchmark::State& state) {
  Scheduler sched = Scheduler::create(PlacementSpec{}).value();  // default plugins and weights
  churn(state, [&](const Pool& pool, const AllocationRequest& r) {
    return sched.place(pool, r).placement;
  });
}

// The same decisions without the failure-only extras (explanation, preemption plan), as a caller
// that retries pending requests asks for them.
void BM_PlaceIndexedQuick(benchmark::State& state) {
  Scheduler sched = Scheduler::create(PlacementSpec{}).value();
  churn(state, [&](const Pool& pool, const AllocationRequest& r) {
    return sched.place(pool, r, PlaceOptions{false, false}).placement;
  });
}

// Baseline with the same plugins: sampling so wide that every indexed node is filtered and
// scored, i.e. what the scheduler would cost without sampling the capacity index.
void BM_PlaceScoreEverything(benchmark::State& state) {
  PlacementSpec spec;
  spec.sample_nodes = 1 << 20;
  Scheduler sched = Scheduler::create(spec).value();
  churn(state, [&](const Pool& pool, const AllocationRequest& r) {
    return sched.place(pool, r, PlaceOptions{false, false}).placement;
  });
}

// Speed floor: first fit over every GPU, no scores, no explanation.
void BM_PlaceNaiveScan(benchmark::State& state) {
  churn(state, [](const Pool& pool, const AllocationRequest& r) {
    return bench::naive_place(pool, r, bench::NaivePolicy::kFirstFit);
  });
}

#define GF_PLACEMENT_BENCH(fn) \
  BENCHMARK(fn)->Arg(100)->Arg(1000)->Arg(10000)->UseManualTime()->Unit(benchmark::kMicrosecond)
GF_PLACEMENT_BENCH(BM_PlaceIndexed);
GF_PLACEMENT_BENCH(BM_PlaceIndexedQuick);
GF_PLACEMENT_BENCH(BM_PlaceScoreEverything);
GF_PLACEMENT_BENCH(BM_PlaceNaiveScan);

}  // namespace
