// prefix_replay: replays the Mooncake FAST'25 conversation trace (Moonshot AI's Kimi, one hour,
// 12,031 requests with chained 512-token prefix block ids; Apache-2.0, see
// ../shared/data/README.md) through gf::Router under every routing policy, in virtual time,
// across a fleet of replicas that each keep a simulated LRU prefix cache. Prints, per policy,
// the prefix-cache hit ratio and the load imbalance it caused.
//
//   prefix_replay [--trace FILE] [--replicas N] [--cache-blocks N] [--policy NAME]...
//                 [--load-factor C] [--min-match-ratio R] [--kv-prefix-weight W]
//
// Service-time model (deliberately simple; it only has to make load rise and fall with the
// routing): a request's prefill takes its uncached input tokens / kPrefillTokensPerSecond; its
// decode takes output tokens × (kDecodeStep + kDecodeStepPerRunning × requests already running
// on the replica). Cached blocks thus save prefill time, and piling requests onto one replica
// slows all of them. Replicas report KV usage (tokens of running requests / cache size) every
// kScrapeInterval, as a gateway scraping vLLM's metrics would.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <list>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "routing/policy_registry.h"
#include "routing/router.h"

namespace {

using namespace gf;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr int64_t kBlockTokens = 512;  // the trace's hash_ids block size
constexpr double kPrefillTokensPerSecond = 8000.0;
constexpr double kDecodeStep = 0.020;            // s per output token, alone
constexpr double kDecodeStepPerRunning = 0.002;  // s per output token per other running request
constexpr Duration kScrapeInterval = std::chrono::seconds(1);

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

// An engine's prefix cache: LRU over blocks; a request reuses the longest cached prefix.
class EngineCache {
 public:
  explicit EngineCache(size_t capacity) : capacity_(capacity) {}
  size_t serve(const std::vector<uint64_t>& blocks) {
    size_t hits = 0;
    while (hits < blocks.size() && map_.count(blocks[hits]) != 0)
      ++hits;
    for (uint64_t b : blocks) {
      auto it = map_.find(b);
      if (it != map_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        continue;
      }
      if (map_.size() >= capacity_) {
        map_.erase(lru_.back());
        lru_.pop_back();
      }
      lru_.push_front(b);
      map_[b] = lru_.begin();
    }
    return hits;
  }

 private:
  size_t capacity_;
  std::list<uint64_t> lru_;
  std::unordered_map<uint64_t, std::list<uint64_t>::iterator> map_;
};

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

Outcomes replay(const std::vector<TraceRequest>& trace, const std::string& policy, int replicas,
                size_t cache_blocks, const PolicyConfig& config) {
  Router router(RouterConfig{config, {}});
  ModelRoutes table;
  table.model = "kimi";
  table.policy = policy;
  for (int i = 0; i < replicas; ++i)
    table.replicas.push_back({"replica-" + std::to_string(i), "v1", true, false});
  if (Status s = router.update(table); !s.ok()) {
    std::fprintf(stderr, "prefix_replay: %s\n", s.error().describe().c_str());
    std::exit(1);
  }
  std::unordered_map<std::string, int> index;
  for (int i = 0; i < replicas; ++i)
    index["replica-" + std::to_string(i)] = i;

  struct Running {
    TimePoint done;
    Ticket ticket;
    int replica;
    int64_t tokens;
    bool operator>(const Running& o) const { return done > o.done; }
  };
  std::priority_queue<Running, std::vector<Running>, std::greater<>> running;
  std::vector<EngineCache> caches(static_cast<size_t>(replicas), EngineCache(cache_blocks));
  std::vector<int> active(static_cast<size_t>(replicas), 0);
  std::vector<int64_t> active_tokens(static_cast<size_t>(replicas), 0);
  std::vector<int64_t> served_tokens(static_cast<size_t>(replicas), 0);
  std::vector<double> latencies;
  latencies.reserve(trace.size());

  Outcomes res;
  res.policy = policy;
  int64_t hit_blocks = 0, blocks = 0;
  double imbalance_sum = 0;
  int64_t imbalance_samples = 0;
  const TimePoint epoch{};
  TimePoint last_scrape = epoch - kScrapeInterval;
  const double kv_capacity_tokens = static_cast<double>(cache_blocks * kBlockTokens);

  for (const TraceRequest& tr : trace) {
    const TimePoint now = epoch + milliseconds(tr.at_ms);
    while (!running.empty() && running.top().done <= now) {
      const Running r = running.top();
      running.pop();
      router.finish(r.ticket, Outcome::kSuccess, r.done);
      --active[static_cast<size_t>(r.replica)];
      active_tokens[static_cast<size_t>(r.replica)] -= r.tokens;
    }
    if (now - last_scrape >= kScrapeInterval) {
      for (int i = 0; i < replicas; ++i) {
        LoadReport rep;
        rep.kv_cache_usage = std::min(
            1.0, static_cast<double>(active_tokens[static_cast<size_t>(i)]) / kv_capacity_tokens);
        rep.queue_length = 0;  // the model has no engine queue: running requests slow down instead
        (void)router.report_load("kimi", "replica-" + std::to_string(i), rep);
      }
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
    const int r = index.at(std::string(pick->replica));
    const auto ri = static_cast<size_t>(r);
    const size_t hits = caches[ri].serve(tr.blocks);
    hit_blocks += static_cast<int64_t>(hits);
    blocks += static_cast<int64_t>(tr.blocks.size());
    const int64_t uncached =
        std::max<int64_t>(0, tr.input - static_cast<int64_t>(hits) * kBlockTokens);
    const double seconds =
        static_cast<double>(uncached) / kPrefillTokensPerSecond +
        static_cast<double>(tr.output) * (kDecodeStep + kDecodeStepPerRunning * active[ri]);
    latencies.push_back(seconds);
    const int64_t tokens = tr.input + tr.output;
    ++active[ri];
    active_tokens[ri] += tokens;
    served_tokens[ri] += tokens;
    running.push(Running{now + duration_cast<Duration>(std::chrono::duration<double>(seconds)),
                         pick->ticket, r, tokens});
    // Imbalance as the fleet looks right after this arrival.
    int total = 0, peak = 0;
    for (int a : active) {
      total += a;
      peak = std::max(peak, a);
    }
    res.peak_outstanding = std::max(res.peak_outstanding, peak);
    imbalance_sum += peak / (static_cast<double>(total) / replicas);
    ++imbalance_samples;
  }
  res.hit_ratio = blocks > 0 ? static_cast<double>(hit_blocks) / static_cast<double>(blocks) : 0;
  int64_t total_tokens = 0, max_tokens = 0;
  for (int64_t t : served_tokens) {
    total_tokens += t;
    max_tokens = std::max(max_tokens, t);
  }
  res.token_imbalance =
      static_cast<double>(max_tokens) / (static_cast<double>(total_tokens) / replicas);
  res.outstanding_imbalance = imbalance_samples > 0 ? imbalance_sum / imbalance_samples : 0;
  std::sort(latencies.begin(), latencies.end());
  double sum = 0;
  for (double l : latencies)
    sum += l;
  if (!latencies.empty()) {
    res.mean_latency_s = sum / static_cast<double>(latencies.size());
    res.p99_latency_s =
        latencies[static_cast<size_t>(0.99 * static_cast<double>(latencies.size() - 1))];
  }
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
  std::printf("fleet: %d replicas, each with an LRU prefix cache of %zu blocks (%zu tokens)\n",
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
