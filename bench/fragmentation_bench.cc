// fragmentation_replay: replays one seeded arrival/departure sequence on
// examples/cluster-large.yaml under three policies (bin-packing, spread, naive
// most-free-memory-first), and bin-packing and spread again with defragmentation
// (placement/defragmentation.h, the fleet's planner: a rejected multi-GPU request gets the
// fewest moves of smaller allocations that free a node, carried out at once here), and counts
// the requests each rejects, in particular those rejected while the cluster as a whole had room:
// capacity lost to fragmentation rather than to load.
//
//   fragmentation_replay [cluster.yaml] [--seed N] [--arrivals N] [--load X]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "common/io/manifest.h"
#include "naive_placer.h"
#include "placement/defragmentation.h"
#include "placement/placement_names.h"
#include "placement/scheduler.h"

namespace {

using namespace gf;

struct Arrival {
  double at = 0;  // hours
  double lifetime = 0;
  AllocationRequest request;
};

uint64_t pick(std::mt19937_64& rng, uint64_t n) {
  return rng() % n;
}
// Exponential variate by inversion, so the sequence is the same with every standard library.
double exponential(std::mt19937_64& rng, double mean) {
  double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return -mean * std::log1p(-u);
}

// Size in whole-GPU equivalents (a share counts as its fraction of an 80 GiB GPU); for load only.
double gpu_equivalents(const AllocationRequest& r) {
  return r.fractional() ? static_cast<double>(r.memory_per_gpu->value) / (80.0 * 1024) : r.gpus;
}

int size_class(const AllocationRequest& r) {  // 0 = share, then 1, 2, 4, 8 GPUs
  if (r.fractional()) return 0;
  return r.gpus == 1 ? 1 : r.gpus == 2 ? 2 : r.gpus == 4 ? 3 : 4;
}
const char* kClassNames[] = {"share", "1 GPU", "2 GPU", "4 GPU", "8 GPU"};

AllocationRequest random_request(std::mt19937_64& rng, const std::vector<std::string>& models) {
  AllocationRequest r;
  r.deployment = "replay";
  r.model = "llm-" + std::to_string(pick(rng, 16));
  int kind = static_cast<int>(pick(rng, 100));
  if (kind < 40) {
    r.memory_per_gpu = MiB(int64_t(10 + pick(rng, 31)) * 1024);
  } else {
    r.gpus = kind < 65 ? 1 : kind < 80 ? 2 : kind < 92 ? 4 : 8;
    if (r.gpus > 1 && pick(rng, 3) == 0) r.topology = TopologyPolicy::kAny;
  }
  if (pick(rng, 5) < 3) {
    std::vector<std::string> m = models;
    std::shuffle(m.begin(), m.end(), rng);
    m.resize(1 + pick(rng, 2));
    r.gpu_models = m;
  }
  return r;
}

// The whole sequence, generated once. Offered load (GPU equivalents x mean lifetime x rate) is
// `load` times the cluster's GPU count, so the cluster runs near full. Requests that could not fit
// even the empty cluster are drawn again: they measure nothing about fragmentation.
std::vector<Arrival> make_arrivals(const Pool& empty, const Scheduler& sched, uint64_t seed,
                                   int count, double load) {
  std::vector<std::string> models;
  for (uint16_t m = 0; m < empty.model_count(); ++m)
    models.push_back(empty.model_name(ModelIndex{m}));
  std::mt19937_64 rng(seed);
  std::vector<Arrival> out;
  double mean_size = 0;
  while (out.size() < static_cast<size_t>(count)) {
    Arrival a;
    a.request = random_request(rng, models);
    if (!sched.place(empty, a.request).placed()) continue;
    a.lifetime = exponential(rng, 1.0);
    mean_size += gpu_equivalents(a.request);
    out.push_back(std::move(a));
  }
  mean_size /= count;
  double rate = load * static_cast<double>(empty.gpu_count()) / mean_size;  // per hour
  double t = 0;
  for (Arrival& a : out) {
    t += exponential(rng, 1.0 / rate);
    a.at = t;
  }
  return out;
}

// Whether the cluster as a whole had room for `r`: enough empty usable GPUs of an accepted model
// (anywhere, ignoring nodes and NVLink), or for a share enough free memory summed over the usable
// GPUs of an accepted model that are large enough and below the share limit.
bool had_total_capacity(const Pool& pool, const AllocationRequest& r) {
  auto accepted = bench::accepted_models(pool, r);
  int empty = 0;
  int64_t free_mib = 0;
  for (uint32_t i = 0; i < pool.gpu_count(); ++i) {
    const Gpu& g = pool.gpu(GpuIndex{i});
    if (!allows_new_allocation(g.health, g.admin, r.allow_reserved) || !accepted[g.model.value])
      continue;
    if (g.empty()) ++empty;
    if (r.fractional() && g.shares < pool.options().max_shares_per_gpu &&
        g.memory_total >= *r.memory_per_gpu)
      free_mib += g.memory_free().value;
  }
  return r.fractional() ? free_mib >= r.memory_per_gpu->value : empty >= r.gpus;
}

struct Outcome {
  int requests = 0;
  int rejected = 0;
  int rejected_with_room = 0;
  int by_class[5] = {};
  int rejected_by_class[5] = {};
  double demand = 0;     // GPU-equivalent hours asked for
  double placed = 0;     // ... and granted
  int defragmented = 0;  // requests placed after moves
  int moves = 0;         // allocations moved for them
};

using Placer = std::function<std::optional<Candidate>(const Pool&, const AllocationRequest&)>;

// Carries a defragmentation plan out at once: the movers released, the request committed, each
// mover committed where the plan puts it. Returns the request's allocation; `renamed` maps each
// mover's old id to its new one (departures are keyed by id).
AllocationId carry_out(Pool& pool, const DefragPlan& plan, const AllocationRequest& r,
                       std::map<uint64_t, uint64_t>& renamed) {
  std::vector<AllocationRequest> movers;
  for (const DefragMove& m : plan.moves) {
    movers.push_back(pool.allocation(m.from)->request);
    (void)pool.release(m.from, TimePoint{});
  }
  auto id = pool.commit(r, plan.placement.node, plan.placement.gpus(pool), TimePoint{});
  for (size_t i = 0; i < movers.size(); ++i) {
    const Candidate& to = plan.moves[i].to;
    auto moved = pool.commit(movers[i], to.node, to.gpus(pool), TimePoint{});
    if (!moved || !id) {
      std::fprintf(stderr, "a defragmentation plan did not hold\n");
      std::exit(1);
    }
    renamed[plan.moves[i].from.value] = moved->value;
  }
  return *id;
}

Outcome replay(const ClusterSpec& spec, const std::vector<Arrival>& arrivals, const Placer& place,
               const Scheduler* defrag) {
  Pool pool = Pool::from_spec(spec, TimePoint{}).value();
  using Departure = std::pair<double, uint64_t>;  // (time, allocation id): ties break by id
  std::priority_queue<Departure, std::vector<Departure>, std::greater<>> departures;
  std::map<uint64_t, uint64_t> renamed;  // moved allocations: old id -> new id
  Outcome o;
  for (const Arrival& a : arrivals) {
    while (!departures.empty() && departures.top().first <= a.at) {
      uint64_t id = departures.top().second;
      for (auto it = renamed.find(id); it != renamed.end(); it = renamed.find(id)) {
        id = it->second;
        renamed.erase(it);
      }
      (void)pool.release(AllocationId{id}, TimePoint{});
      departures.pop();
    }
    const int cls = size_class(a.request);
    const double work = gpu_equivalents(a.request) * a.lifetime;
    ++o.requests;
    ++o.by_class[cls];
    o.demand += work;
    std::optional<Candidate> c = place(pool, a.request);
    auto id = c ? pool.commit(a.request, c->node, c->gpus(pool), TimePoint{})
                : Result<AllocationId>(make_error(ErrorCode::kUnschedulable, "no fit"));
    if (c && !id) {
      std::fprintf(stderr, "commit refused a placement: %s\n", id.error().describe().c_str());
      std::exit(1);
    }
    if (!id && defrag != nullptr) {
      if (auto plan =
              plan_defragmentation(*defrag, pool, a.request, DefragOptions{}, TimePoint{})) {
        id = carry_out(pool, *plan, a.request, renamed);
        ++o.defragmented;
        o.moves += static_cast<int>(plan->moves.size());
      }
    }
    if (!id) {
      ++o.rejected;
      ++o.rejected_by_class[cls];
      if (had_total_capacity(pool, a.request)) ++o.rejected_with_room;
      continue;
    }
    o.placed += work;
    departures.push({a.at + a.lifetime, id->value});
  }
  return o;
}

std::shared_ptr<Scheduler> scheduler_with(const ClusterSpec& spec,
                                          std::map<std::string, int> weights) {
  PlacementSpec p = spec.placement;
  p.score_weights = std::move(weights);
  return std::make_shared<Scheduler>(Scheduler::create(p).value());
}

Placer scheduler_placer(std::shared_ptr<Scheduler> sched) {
  return [sched](const Pool& pool, const AllocationRequest& r) {
    return sched->place(pool, r).placement;
  };
}

double pct(double part, double whole) {
  return whole == 0 ? 0 : 100.0 * part / whole;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = std::string(GPUFLEET_SOURCE_DIR) + "/examples/cluster-large.yaml";
  uint64_t seed = 1;
  int count = 30000;
  double load = 1.0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--arrivals" && i + 1 < argc) {
      count = std::atoi(argv[++i]);
    } else if (arg == "--load" && i + 1 < argc) {
      load = std::atof(argv[++i]);
    } else {
      path = arg;
    }
  }
  ParsedManifests parsed = load_manifest_file(path, {placement_names(), std::nullopt});
  if (!parsed.ok() || parsed.manifests.clusters.empty()) {
    for (const auto& d : parsed.diagnostics)
      std::fprintf(stderr, "%s\n", d.format().c_str());
    std::fprintf(stderr, "%s: no valid Cluster manifest\n", path.c_str());
    return 1;
  }
  const ClusterSpec& spec = parsed.manifests.clusters.front();
  Pool empty = Pool::from_spec(spec, TimePoint{}).value();
  PlacementSpec any = spec.placement;
  std::vector<Arrival> arrivals =
      make_arrivals(empty, Scheduler::create(any).value(), seed, count, load);

  struct Policy {
    const char* name;
    Placer place;
    std::shared_ptr<Scheduler> defrag;  // null: no defragmentation
  };
  auto binpack = scheduler_with(spec, {{"binpack", 1}});
  auto spread = scheduler_with(spec, {{"spread", 1}});
  std::vector<Policy> policies = {{"binpack", scheduler_placer(binpack), nullptr},
                                  {"spread", scheduler_placer(spread), nullptr},
                                  {"naive most-free",
                                   [](const Pool& pool, const AllocationRequest& r) {
                                     return bench::naive_place(pool, r,
                                                               bench::NaivePolicy::kMostFreeMemory);
                                   },
                                   nullptr},
                                  {"binpack+defrag", scheduler_placer(binpack), binpack},
                                  {"spread+defrag", scheduler_placer(spread), spread}};

  std::printf("cluster %s: %zu nodes, %zu GPUs; %d arrivals, seed %llu, offered load %.2f\n\n",
              path.c_str(), empty.node_count(), empty.gpu_count(), count,
              static_cast<unsigned long long>(seed), load);
  std::printf("%-16s %8s %8s %7s %14s %7s %12s %8s %6s\n", "policy", "requests", "rejected",
              "rej %", "rej with room", "% req", "demand met %", "defragd", "moves");
  std::vector<Outcome> outcomes;
  for (const Policy& p : policies) {
    Outcome o = replay(spec, arrivals, p.place, p.defrag.get());
    std::printf("%-16s %8d %8d %6.2f%% %14d %6.2f%% %11.2f%% %8d %6d\n", p.name, o.requests,
                o.rejected, pct(o.rejected, o.requests), o.rejected_with_room,
                pct(o.rejected_with_room, o.requests), pct(o.placed, o.demand), o.defragmented,
                o.moves);
    outcomes.push_back(o);
  }
  std::printf("\nrejected %% by request size\n%-16s", "policy");
  for (const char* c : kClassNames)
    std::printf(" %7s", c);
  std::printf("\n");
  for (size_t i = 0; i < policies.size(); ++i) {
    std::printf("%-16s", policies[i].name);
    for (int c = 0; c < 5; ++c)
      std::printf(" %6.2f%%", pct(outcomes[i].rejected_by_class[c], outcomes[i].by_class[c]));
    std::printf("\n");
  }
  return 0;
}
