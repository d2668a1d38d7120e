// prefix_replay: replays the Mooncake FAST'25 conversation trace (Moonshot AI's Kimi, one hour,
// 12,031 requests with chained 512-token prefix block ids; Apache-2.0, see
// ../shared/data/README.md) through gf::Router under every routing policy, in virtual time,
// across a fleet of replicas that each run the perf model's engine with its prefix cache.
// Prints, per policy, the prefix-cache hit ratio and the load imbalance it caused.
//
//   prefix_replay [--trace FILE] [--replicas N] [--cache-blocks N] [--policy NAME]...
//                 [--load-factor C] [--min-match-ratio R] [--kv-prefix-weight W]
//
// Service model: each replica is the perf model's BatchEngine (src/perfmodel/batch_engine.h),
// the continuous-batching engine engine-sim and the simulator run, with its prefix cache keyed
// on the trace's chained block ids (512 tokens each; the trace carries token counts and block
// ids, so neither the token estimate nor the text hash is needed). Its KV cache holds
// --cache-blocks blocks, shared by running requests and cached prefixes. The iteration costs are
// deliberately simple (they only have to make load rise and fall with the routing): a prefill
// takes its uncached prompt tokens / kPrefillTokensPerSecond, a decode iteration kDecodeStep +
// kDecodeStepPerRunning × (batch − 1). Cached blocks thus save prefill time, and piling requests
// onto one replica slows all of them. Replicas report KV usage and queue length every
// kScrapeInterval, as a gateway scraping vLLM's metrics would. The hit ratio is the engines'
// (vLLM's prefix_cache_hits / prefix_cache_queries, in tokens).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "perfmodel/batch_engine.h"
#include "routing/policy_registry.h"
#include "routing/router.h"

namespace {

using namespace gf;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr int64_t kBlockTokens = 512;  // the trace's hash_ids block size
constexpr double kPrefillTokensPerSecond = 8000.0;
constexpr double kDecodeStep = 0.020;            // s per decode iteration, alone
constexpr double kDecodeStepPerRunning = 0.002;  // s more per other sequence in the batch
constexpr Duration kScrapeInterval = std::chrono::seconds(1);

Duration seconds(double s) {
  return duration_cast<Duration>(std::chrono::duration<double>(s));
}

class ReplayCost final : public IterationCost {
 public:
  Duration prefill(Tokens prompt) const override {
    return seconds(static_cast<double>(prompt.value) / kPrefillTokensPerSecond);
  }
  Duration decode(int batch, Tokens) const override {
    return seconds(kDecodeStep + kDecodeStepPerRunning * (batch - 1));
  }
  Duration mixed(const MixedIteration& m) const override {
    return prefill(m.prefill) + seconds(kDecodeStepPerRunning * m.batch);
  }
};

struct TraceRequest {
  int64_t at_ms = 0;
  int64_t input = 0;
  int64_t output = 0;
  std::vector<uint64_t> blocks;
};

std::vector<TraceRequest> load_trace(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "prefix_replay: cannot open %s\n", path.c_str());
    std::exit(1);
  }
  std::vector<TraceRequest> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    TraceRequest r;
    r.at_ms = j.at("timestamp").get<int64_t>();
    r.input = j.at("input_length").get<int64_t>();
    r.output = j.at("output_length").get<int64_t>();
    r.blocks = j.at("hash_ids").get<std::vector<uint64_t>>();
    out.push_back(std::move(r));
  }
  return out;
}

// One replica in virtual time: a BatchEngine and the iteration it is running, which ends at
// `clock`; its events happen then.
struct Replica {
  Replica(const IterationCost& cost, const BatchEngineConfig& config) : engine(cost, config) {}
  struct Inflight {
    TimePoint arrival;
    Ticket ticket;
    int64_t tokens = 0;
  };
  BatchEngine engine;
  TimePoint clock{};
  std::optional<EngineIteration> current;
  std::unordered_map<uint64_t, Inflight> inflight;
};

// Runs `r` up to `until`: finishes the iterations that end by then, reporting each finished
// request to `done(id, when)`. An iteration that ends later stays current.
template <class Done>
void advance(Replica& r, TimePoint until, Done&& done) {
  for (;;) {
    if (r.current) {
      if (r.clock > until) return;
      for (const EngineEvent& ev : r.current->events)
        if (ev.kind == EngineEventKind::kFinished) done(ev.id, r.clock);
      r.current.reset();
    }
    if (r.engine.idle()) {
      r.clock = std::max(r.clock, until);
      return;
    }
    EngineIteration it = r.engine.step();
    if (it.duration.count() == 0 && it.events.empty()) return;  // nothing runnable: wait
    r.clock += it.duration;
    r.current = std::move(it);
  }
}

struct Outcomes {
  std::string policy;
  double hit_ratio = 0;
  double token_imbalance = 0;        // max / mean tokens served per replica
  double outstanding_imbalance = 0;  // mean over arrivals of max / mean outstanding
  int peak_outstanding = 0;
  double mean_latency_s = 0;
  double p99_latency_s = 0;
  int64_t failed = 0;
};

void add_fleet(Router& router, const std::string& policy, int replicas) {
  RouteModel table;
  table.model = "kimi";
  table.policy = policy;
  table.revisions.push_back(RouteRevision{"v1", 1, {}});
  for (int i = 0; i < replicas; ++i)
    table.revisions[0].replicas.push_back({"replica-" + std::to_string(i), "127.0.0.1:1"});
  if (Status s = router.update(table); !s.ok()) {
    std::fprintf(stderr, "prefix_replay: %s\n", s.error().describe().c_str());
    std::exit(1);
  }
}

// What a gateway scraping each engine's vLLM metrics would learn.
void report_loads(Router& router, const std::vector<Replica>& fleet) {
  for (size_t i = 0; i < fleet.size(); ++i) {
    const EngineStats st = fleet[i].engine.stats();
    LoadReport rep;
    rep.kv_cache_usage = st.kv_usage;
    rep.queue_length = st.waiting;
    (void)router.report_load("kimi", "replica-" + std::to_string(i), rep);
  }
}

// Latency percentiles, the hit ratio and the token imbalance once every request has finished.
void summarise(std::vector<double>& latencies, const std::vector<Replica>& fleet,
               const std::vector<int64_t>& served_tokens, Outcomes& res) {
  uint64_t hits = 0, queries = 0;
  for (const Replica& r : fleet) {
    hits += r.engine.stats().prefix_hits;
    queries += r.engine.stats().prefix_queries;
  }
  res.hit_ratio = queries > 0 ? static_cast<double>(hits) / static_cast<double>(queries) : 0;
  int64_t total_tokens = 0, max_tokens = 0;
  for (int64_t t : served_tokens) {
    total_tokens += t;
    max_tokens = std::max(max_tokens, t);
  }
  const auto n = static_cast<double>(served_tokens.size());
  res.token_imbalance = total_tokens > 0 ? static_cast<double>(max_tokens) / (total_tokens / n) : 0;
  std::sort(latencies.begin(), latencies.end());
  double sum = 0;
  for (double l : latencies)
    sum += l;
  if (!latencies.empty()) {
    res.mean_latency_s = sum / static_cast<double>(latencies.size());
    res.p99_latency_s =
        latencies[static_cast<size_t>(0.99 * static_cast<double>(latencies.size() - 1))];
  }
}

Outcomes replay(const std::vector<TraceRequest>& trace, const std::string& policy, int replicas,
                size_t cache_blocks, const PolicyConfig& config) {
  Router router(RouterConfig{config, {}});
  add_fleet(router, policy, replicas);
  std::unordered_map<std::string, size_t> index;
  for (int i = 0; i < replicas; ++i)
    index["replica-" + std::to_string(i)] = static_cast<size_t>(i);
  const ReplayCost cost;
  BatchEngineConfig engine_config;
  engine_config.kv_capacity = Tokens(static_cast<int64_t>(cache_blocks) * kBlockTokens);
  engine_config.prefix_cache = true;
  engine_config.prefix_block_tokens = static_cast<int>(kBlockTokens);
  std::vector<Replica> fleet;
  fleet.reserve(static_cast<size_t>(replicas));
  for (int i = 0; i < replicas; ++i)
    fleet.emplace_back(cost, engine_config);
  std::vector<int64_t> served_tokens(static_cast<size_t>(replicas), 0);
  std::vector<double> latencies;
  latencies.reserve(trace.size());

  Outcomes res;
  res.policy = policy;
  double imbalance_sum = 0;
  int64_t imbalance_samples = 0;
  const TimePoint epoch{};
  TimePoint last_scrape = epoch - kScrapeInterval;
  auto run_until = [&](TimePoint t) {
    for (Replica& r : fleet)
      advance(r, t, [&](uint64_t id, TimePoint when) {
        const auto it = r.inflight.find(id);
        router.finish(it->second.ticket, Outcome::kSuccess, when);
        latencies.push_back(std::chrono::duration<double>(when - it->second.arrival).count());
        r.inflight.erase(it);
      });
  };

  uint64_t next_id = 1;
  for (const TraceRequest& tr : trace) {
    const TimePoint now = epoch + milliseconds(tr.at_ms);
    run_until(now);
    if (now - last_scrape >= kScrapeInterval) {
      report_loads(router, fleet);
      last_scrape = now;
    }
    RouteRequest req;
    req.model = "kimi";
    req.prefix_blocks = tr.blocks;
    req.estimated_tokens = Tokens(tr.input + tr.output);
    auto pick = router.pick(req, now);
    if (!pick.ok()) {
      ++res.failed;
      continue;
    }
    const size_t ri = index.at(std::string(pick->replica));
    Replica& rep = fleet[ri];
    const uint64_t id = next_id++;
    if (!rep.engine.submit(EngineRequest{id, Tokens(std::max<int64_t>(1, tr.input)),
                                         Tokens(std::max<int64_t>(1, tr.output)), tr.blocks})) {
      router.finish(pick->ticket, Outcome::kClientError, now);  // larger than the KV cache
      ++res.failed;
      continue;
    }
    const int64_t tokens = tr.input + tr.output;
    rep.inflight[id] = Replica::Inflight{now, pick->ticket, tokens};
    served_tokens[ri] += tokens;
    // Imbalance as the fleet looks right after this arrival.
    size_t total = 0, peak = 0;
    for (const Replica& r : fleet) {
      total += r.inflight.size();
      peak = std::max(peak, r.inflight.size());
    }
    res.peak_outstanding = std::max(res.peak_outstanding, static_cast<int>(peak));
    imbalance_sum += static_cast<double>(peak) / (static_cast<double>(total) / replicas);
    ++imbalance_samples;
  }
  run_until(TimePoint::max());
  res.outstanding_imbalance = imbalance_samples > 0 ? imbalance_sum / imbalance_samples : 0;
  summarise(latencies, fleet, served_tokens, res);
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  std::string trace_path = std::string(GPUFLEET_SOURCE_DIR) +
                           "/../shared/data/traces/mooncake_fast25_conversation.jsonl";
  int replicas = 8;
  size_t cache_blocks = 2048;
  std::vector<std::string> policies;
  PolicyConfig config;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--trace" && i + 1 < argc) {
      trace_path = argv[++i];
    } else if (arg == "--replicas" && i + 1 < argc) {
      replicas = std::atoi(argv[++i]);
    } else if (arg == "--cache-blocks" && i + 1 < argc) {
      cache_blocks = static_cast<size_t>(std::atoll(argv[++i]));
    } else if (arg == "--policy" && i + 1 < argc) {
      policies.emplace_back(argv[++i]);
    } else if (arg == "--load-factor" && i + 1 < argc) {
      config.load_factor = std::atof(argv[++i]);
    } else if (arg == "--min-match-ratio" && i + 1 < argc) {
      config.min_match_ratio = std::atof(argv[++i]);
    } else if (arg == "--kv-prefix-weight" && i + 1 < argc) {
      config.kv_aware.prefix = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: prefix_replay [--trace FILE] [--replicas N] [--cache-blocks N] "
                   "[--policy NAME]... [--load-factor C] [--min-match-ratio R] "
                   "[--kv-prefix-weight W]\n");
      return 2;
    }
  }
  if (Status s = validate(config); !s.ok()) {
    std::fprintf(stderr, "prefix_replay: %s\n", s.error().message.c_str());
    return 2;
  }
  if (replicas < 1 || cache_blocks < 1) {
    std::fprintf(stderr, "prefix_replay: --replicas and --cache-blocks must be positive\n");
    return 2;
  }
  if (policies.empty())
    for (std::string_view p : policy_names())
      policies.emplace_back(p);

  const auto trace = load_trace(trace_path);
  int64_t total_blocks = 0;
  {
    std::unordered_map<uint64_t, int> seen;
    int64_t repeats = 0;
    for (const auto& r : trace)
      for (uint64_t b : r.blocks) {
        ++total_blocks;
        if (seen[b]++ > 0) ++repeats;
      }
    std::printf(
        "trace: %zu requests, %lld prefix blocks of %lld tokens; %.1f%% repeat an earlier block "
        "(the hit ratio of one infinite cache)\n",
        trace.size(), static_cast<long long>(total_blocks), static_cast<long long>(kBlockTokens),
        100.0 * static_cast<double>(repeats) / static_cast<double>(total_blocks));
  }
  std::printf(
      "fleet: %d replicas, each with a KV cache of %zu blocks (%zu tokens) for running requests "
      "and cached prefixes\n",
      replicas, cache_blocks, cache_blocks * static_cast<size_t>(kBlockTokens));
  std::printf(
      "policy config: load factor %.2f, min match ratio %.2f, kv-aware prefix weight %.1f\n\n",
      config.load_factor, config.min_match_ratio, config.kv_aware.prefix);
  std::printf(
      "| policy            | prefix hit ratio | tokens max/mean | outstanding max/mean | peak "
      "outstanding | mean latency s | p99 latency s |\n");
  std::printf(
      "|-------------------|-----------------:|----------------:|---------------------:|-----"
      "-----------:|---------------:|--------------:|\n");
  for (const std::string& p : policies) {
    const Outcomes r = replay(trace, p, replicas, cache_blocks, config);
    std::printf("| %-17s | %15.1f%% | %15.2f | %20.2f | %16d | %14.2f | %13.2f |\n",
                r.policy.c_str(), 100.0 * r.hit_ratio, r.token_imbalance, r.outstanding_imbalance,
                r.peak_outstanding, r.mean_latency_s, r.p99_latency_s);
    if (r.failed > 0)
      std::printf("  (%lld requests found no replica)\n", static_cast<long long>(r.failed));
  }
  return 0;
}
