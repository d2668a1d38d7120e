// The controller's per-heartbeat cost in the core alone (#18): Fleet::heartbeat for a node whose
// replicas are all Ready and reporting their engines' load, as at rest in a large fleet, plus the
// fleet's tick once per simulated second (what the controller's reconcile loop pays), amortized.
// No HTTP, no JSON: what grows with the fleet is the fleet's own work.
//
//   BM_Heartbeat/<nodes>/<replicas per node>  each node beats once per simulated second, in turn
//
// The 1,000-node row is the baseline in the same run: a heartbeat should cost the same whatever
// the fleet's size. The nodes are 8-GPU A100 nodes; the Deployment runs nodes x replicas
// one-GPU replicas (two to a GPU: memoryPerGpu 40 GiB).
#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "fleet/fleet.h"

namespace {

using namespace gf;
using namespace std::chrono_literals;

struct Agent {
  NodeReport report;  // GPUs and identity; replicas refilled on each beat
  int64_t applied = 0;
  std::map<std::string, int64_t> running;  // id -> generation
};

class Rig {
 public:
  Rig(int nodes, int per_node) {
    auto f = Fleet::create(PlacementSpec{}, FleetOptions{}, now_);
    if (!f.ok()) throw std::runtime_error(f.error().message);
    fleet_.emplace(std::move(*f));
    for (int n = 0; n < nodes; ++n) {
      Agent a;
      NodeReport& r = a.report;
      r.node = "node-" + std::to_string(n);
      r.agent_id = "agent-" + std::to_string(n);
      r.host = "10.0." + std::to_string(n / 256) + "." + std::to_string(n % 256);
      r.port = 9000;
      r.accepts_unchanged = true;
      std::vector<int> all;
      for (int i = 0; i < 8; ++i) {
        GpuReport g;
        g.uuid = "GPU-" + r.node + "-" + std::to_string(i);
        g.index = i;
        g.name = "A100-80GB";
        g.memory = MiB{81920};
        r.gpus.push_back(g);
        all.push_back(i);
      }
      r.nvlink_groups = {all};
      agents_.push_back(std::move(a));
    }
    for (auto& a : agents_)
      beat(a);
    DeploymentSpec d;
    d.name = "llama";
    d.model = "meta-llama/Llama-2-7b-hf";
    d.engine.type = EngineType::kEngineSim;
    d.resources.gpus = 1;
    d.resources.memory_per_gpu = MiB{40960};
    d.replicas.min = nodes * per_node;
    d.replicas.max = nodes * per_node;
    if (!fleet_->apply(d, "", now_).ok()) throw std::runtime_error("apply failed");
    // Placed, started, reported Ready, then until the replies come back "unchanged".
    for (int round = 0; round < 6; ++round) {
      fleet_->tick(now_);
      for (auto& a : agents_)
        beat(a);
      now_ += 1s;
    }
    size_t ready = 0;
    for (const auto& [id, r] : fleet_->replicas())
      ready += r.state == ReplicaState::kReady;
    if (ready != static_cast<size_t>(nodes * per_node))
      throw std::runtime_error("only " + std::to_string(ready) + " replicas Ready");
    step_ = std::chrono::duration_cast<Duration>(1s) / nodes;
  }

  // One heartbeat of the next node in turn; the fleet ticks once per simulated second.
  bool next() {
    Agent& a = agents_[turn_];
    if (++turn_ == agents_.size()) {
      turn_ = 0;
      fleet_->tick(now_);
    }
    now_ += step_;
    return beat(a);
  }

 private:
  bool beat(Agent& a) {
    NodeReport& r = a.report;
    r.seq += 1;
    r.applied_generation = a.applied;
    r.replicas.clear();
    uint16_t port = 20000;
    for (const auto& [id, gen] : a.running) {
      ReplicaReport rr{id, gen, ReplicaProcessState::kReady, "", port++, 0};
      ReplicaLoad l;
      l.running = 3;
      l.waiting = 0;
      l.kv_cache_usage = 0.25;
      l.prompt_tokens = Tokens(static_cast<int64_t>(r.seq) * 1000);
      l.generation_tokens = Tokens(static_cast<int64_t>(r.seq) * 200);
      l.ttft_counts.assign(13, r.seq);
      rr.load = std::move(l);
      r.replicas.push_back(std::move(rr));
    }
    auto reply = fleet_->heartbeat(r, now_);
    if (!reply.ok()) return false;
    if (!reply->unchanged) {
      a.running.clear();
      for (const auto& x : reply->replicas)
        if (!x.draining) a.running[x.id] = x.generation;
    }
    a.applied = reply->generation;
    return reply->unchanged;
  }

  TimePoint now_{std::chrono::hours(1)};
  Duration step_{0};
  std::optional<Fleet> fleet_;
  std::vector<Agent> agents_;
  size_t turn_ = 0;
};

void BM_Heartbeat(benchmark::State& state) {
  Rig rig(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  int64_t unchanged = 0;
  for (auto _ : state)
    unchanged += rig.next();
  state.SetItemsProcessed(state.iterations());
  state.counters["unchanged_share"] =
      static_cast<double>(unchanged) / static_cast<double>(state.iterations());
}

BENCHMARK(BM_Heartbeat)
    ->Args({1000, 4})
    ->Args({10000, 4})
    ->Args({10000, 10})
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(3);

}  // namespace

BENCHMARK_MAIN();
