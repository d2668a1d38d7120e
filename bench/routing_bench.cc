// One routing decision per policy, with 64 replicas and a prefix index full at its cap (262,144
// entries, LRU-evicting in steady state): requests are turns of 20,000 synthetic conversations
// (each with its own session key) whose prompts share a 2 KiB system prompt and grow 2 KiB a
// turn; 256 requests stay outstanding; one replica's KV usage and queue length are reported
// between decisions (untimed).
//
//   BM_Decide/<policy>          Router::pick (split, policy, prefix lookup and record) + finish
//                               of the oldest outstanding request; blocks precomputed.
//   BM_HashAndDecide/<policy>   the same plus hashing the prompt text: what the gateway pays
//                               per request. Prompts are 4-64 KiB (mean 33 KiB, 66 blocks).
//   BM_PrefixHash/<KiB>         prefix_block_hashes alone.
//
// Each decision is also timed alone with steady_clock; counters p50_us/p99_us/p999_us are the
// percentiles over every timed decision, and vs_rr_p99 / vs_rr_mean the ratios to round-robin's
// in the same run (round-robin is registered first). Goal: p99 <= 10 us including the lookup.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/prefix_hash.h"
#include "routing/kv_aware.h"
#include "routing/policy_registry.h"
#include "routing/prefix_affinity.h"
#include "routing/router.h"

namespace {

using namespace gf;
using Clock = std::chrono::steady_clock;

constexpr int kReplicas = 64;
constexpr int kConversations = 20'000;
constexpr size_t kOutstanding = 256;
constexpr size_t kSystemPromptBytes = 2048;
constexpr size_t kTurnBytes = 2048;
constexpr size_t kMaxPromptBytes = 64 * 1024;

struct Workload {
  PrefixHashConfig hashing;
  // Conversation c's longest prompt is the system prompt followed by a slice of one random
  // buffer starting at c · kSliceStep: distinct for every conversation, without keeping 20,000
  // prompts of 64 KiB in memory.
  static constexpr size_t kSliceStep = 64;
  std::string system_prompt;
  std::string buffer;
  std::vector<std::vector<uint64_t>> blocks;  // per conversation, hashes of its longest prompt
  std::vector<std::string> users;             // per conversation, its session key
  std::mt19937_64 rng{2026};

  Workload() {
    auto random_text = [&](size_t n) {
      std::string s(n, ' ');
      for (char& c : s)
        c = static_cast<char>('a' + rng() % 26);
      return s;
    };
    system_prompt = random_text(kSystemPromptBytes);
    buffer = random_text(kConversations * kSliceStep + kMaxPromptBytes);
    blocks.reserve(kConversations);
    std::string text;
    for (int c = 0; c < kConversations; ++c) {
      prompt(c, kMaxPromptBytes, text);
      blocks.push_back(prefix_block_hashes(text, hashing));
      users.push_back("user-" + std::to_string(c));
    }
  }

  // The first `bytes` of conversation c's prompt, into `out`.
  void prompt(int c, size_t bytes, std::string& out) const {
    out.assign(system_prompt);
    out.append(buffer, static_cast<size_t>(c) * kSliceStep, kMaxPromptBytes - kSystemPromptBytes);
    out.resize(bytes);
  }

  // A random conversation's next turn: its prompt is the system prompt plus `turn` turns.
  struct Turn {
    int conversation;
    size_t bytes;
  };
  Turn next() {
    const int c = static_cast<int>(rng() % kConversations);
    const size_t turns = 1 + rng() % 31;
    return Turn{c, std::min(kMaxPromptBytes, kSystemPromptBytes + turns * kTurnBytes)};
  }
};

Workload& workload() {
  static Workload w;
  return w;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

struct Baseline {
  double p99 = 0;
  double mean = 0;
};
std::map<std::string, Baseline>& baselines() {
  static std::map<std::string, Baseline> b;
  return b;
}

// Builds a router for `policy` and routes warm-up traffic until its prefix index is full.
struct Fixture {
  Router router;
  std::deque<Ticket> open;
  TimePoint now{};
  std::vector<std::string> ids;

  explicit Fixture(const std::string& policy) {
    RouteModel t;
    t.model = "llama-70b";
    t.policy = policy;
    t.revisions.push_back(RouteRevision{"v1", 1, {}});
    for (int i = 0; i < kReplicas; ++i) {
      ids.push_back("llama-70b-7f9c4d-" + std::to_string(i));
      t.revisions[0].replicas.push_back({ids.back(), "127.0.0.1:1"});
    }
    if (Status s = router.update(t); !s.ok()) std::abort();
    Workload& w = workload();
    // Enough distinct prefixes to fill 262,144 entries several times over.
    for (int i = 0; i < 40'000; ++i) {
      decide(w.next(), nullptr, nullptr);
      report();
    }
  }

  size_t index_entries() const {
    const Policy* p = router.policy("llama-70b");
    if (auto* pa = dynamic_cast<const PrefixAffinityPolicy*>(p)) return pa->index().size();
    if (auto* kv = dynamic_cast<const KvAwarePolicy*>(p)) return kv->index().size();
    return 0;
  }

  // One decision. With `text`, the prompt is hashed first into `scratch`, as the gateway does.
  void decide(Workload::Turn turn, const std::string* text, std::vector<uint64_t>* scratch) {
    Workload& w = workload();
    const auto& all = w.blocks[static_cast<size_t>(turn.conversation)];
    std::span<const uint64_t> blocks;
    if (text != nullptr) {
      prefix_block_hashes(*text, w.hashing, *scratch);
      blocks = *scratch;
    } else {
      blocks = std::span(all).first(turn.bytes / static_cast<size_t>(w.hashing.block_size.value));
    }
    RouteRequest r;
    r.model = "llama-70b";
    r.session_key = w.users[static_cast<size_t>(turn.conversation)];
    r.prefix_blocks = blocks;
    r.estimated_tokens = Tokens(static_cast<int64_t>(turn.bytes / 4 + 256));
    auto p = router.pick(r, now);
    if (!p.ok()) std::abort();
    open.push_back(p->ticket);
    if (open.size() > kOutstanding) {
      router.finish(open.front(), Outcome::kSuccess, now);
      open.pop_front();
    }
    now += std::chrono::microseconds(100);
  }

  // What the gateway's metrics scraper does between requests: one replica's KV-cache usage and
  // queue length. Not timed.
  void report() {
    Workload& w = workload();
    const uint64_t x = w.rng();
    const std::string& id = ids[x % ids.size()];
    (void)router.report_load(
        "llama-70b", id,
        LoadReport{static_cast<double>(x % 101) / 100.0, static_cast<int>((x >> 8) % 8)});
  }
};

void run(benchmark::State& state, const std::string& policy, bool hash) {
  Fixture f(policy);
  Workload& w = workload();
  std::vector<uint64_t> scratch;
  std::string text;
  std::vector<double> micros;
  micros.reserve(1 << 20);
  std::vector<Workload::Turn> turns(4096);
  for (auto& t : turns)
    t = w.next();
  size_t k = 0;
  for (auto _ : state) {
    const Workload::Turn t = turns[k++ & 4095];
    if (hash) w.prompt(t.conversation, t.bytes, text);  // the gateway has the prompt already
    const auto start = Clock::now();
    f.decide(t, hash ? &text : nullptr, &scratch);
    const auto end = Clock::now();
    micros.push_back(std::chrono::duration<double, std::micro>(end - start).count());
    f.report();
  }
  double sum = 0;
  for (double m : micros)
    sum += m;
  const double mean = micros.empty() ? 0 : sum / static_cast<double>(micros.size());
  state.counters["p50_us"] = percentile(micros, 0.50);
  const double p99 = percentile(micros, 0.99);
  state.counters["p99_us"] = p99;
  state.counters["p999_us"] = percentile(micros, 0.999);
  state.counters["index_entries"] = static_cast<double>(f.index_entries());
  state.SetItemsProcessed(state.iterations());
  const std::string key = hash ? "hash" : "decide";
  if (policy == "round-robin") {
    baselines()[key] = Baseline{p99, mean};
  } else if (baselines().count(key) != 0) {
    state.counters["vs_rr_p99"] = p99 / baselines()[key].p99;
    state.counters["vs_rr_mean"] = mean / baselines()[key].mean;
  }
}

void BM_PrefixHash(benchmark::State& state) {
  PrefixHashConfig c;
  c.max_blocks = 1 << 20;
  const std::string text(static_cast<size_t>(state.range(0)) * 1024, 'x');
  std::vector<uint64_t> out;
  for (auto _ : state) {
    prefix_block_hashes(text, c, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_PrefixHash)->Arg(4)->Arg(16)->Arg(64);

const int kRegistered = [] {
  for (bool hash : {false, true})
    for (std::string_view p : policy_names()) {
      const std::string name =
          std::string(hash ? "BM_HashAndDecide/" : "BM_Decide/") + std::string(p);
      benchmark::RegisterBenchmark(name.c_str(), [p = std::string(p), hash](benchmark::State& s) {
        run(s, p, hash);
      })->Unit(benchmark::kMicrosecond);
    }
  return 0;
}();

}  // namespace
