#include "perfmodel/batch_engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

#include "common/rng.h"

namespace gf {
namespace {

using std::chrono::microseconds;

// 1 µs per prompt token; decode 100 µs + 10 µs per sequence + 0.01 µs per context token. In a
// mixed iteration the decodes add only their per-sequence and context terms.
class LinearCost final : public IterationCost {
 public:
  Duration prefill(Tokens t) const override { return microseconds(t.value); }
  Duration decode(int batch, Tokens ctx) const override {
    return microseconds(100 + 10 * batch) + Duration(ctx.value * 10);
  }
  Duration mixed(const MixedIteration& m) const override {
    return microseconds(m.prefill.value + 10 * m.batch) + Duration(m.context.value * 10);
  }
};

EngineRequest req(uint64_t id, int64_t prompt, int64_t output, std::vector<uint64_t> hashes = {}) {
  return EngineRequest{id, Tokens(prompt), Tokens(output), std::move(hashes)};
}

// One step, recording token counts and checking that none is skipped or repeated.
void step_and_record(BatchEngine& e, std::map<uint64_t, int64_t>& tokens) {
  EngineIteration it = e.step();
  EXPECT_LE(e.stats().kv_usage, 1.0);
  for (const auto& ev : it.events) {
    if (ev.kind == EngineEventKind::kToken) {
      EXPECT_EQ(ev.tokens, tokens[ev.id] + 1)
          << "request " << ev.id << " skipped or repeated a token";
      tokens[ev.id] = ev.tokens;
    }
  }
}

// Runs to completion; returns the final token count per request.
std::map<uint64_t, int64_t> drain(BatchEngine& e, std::map<uint64_t, int64_t> tokens = {}) {
  for (int i = 0; i < 100000 && !e.idle(); ++i)
    step_and_record(e, tokens);
  EXPECT_TRUE(e.idle());
  return tokens;
}

TEST(BatchEngine, PrefillThenOneTokenPerDecodeIteration) {
  LinearCost cost;
  BatchEngine e(cost, BatchEngineConfig{Tokens(1600)});
  ASSERT_TRUE(e.submit(req(1, 100, 3)));
  EngineIteration first = e.step();
  EXPECT_TRUE(first.prefill);
  EXPECT_EQ(first.duration, microseconds(100));
  ASSERT_EQ(first.events.size(), 2u);
  EXPECT_EQ(first.events[0].kind, EngineEventKind::kScheduled);
  EXPECT_EQ(first.events[1].kind, EngineEventKind::kToken);
  EngineIteration second = e.step();
  EXPECT_FALSE(second.prefill);
  EXPECT_EQ(second.duration, microseconds(110) + Duration(101 * 10));
  EngineIteration third = e.step();
  ASSERT_EQ(third.events.size(), 2u);
  EXPECT_EQ(third.events[1].kind, EngineEventKind::kFinished);
  EXPECT_EQ(third.events[1].tokens, 3);
  EXPECT_TRUE(e.idle());
  EXPECT_EQ(e.stats().generation_tokens, 3u);
  EXPECT_EQ(e.stats().prompt_tokens, 100u);
  EXPECT_EQ(e.step().duration, Duration(0));  // idle
}

TEST(BatchEngine, RespectsMaxNumSeqs) {
  LinearCost cost;
  BatchEngineConfig cfg{Tokens(100000)};
  cfg.max_num_seqs = 2;
  BatchEngine e(cost, cfg);
  for (uint64_t i = 1; i <= 5; ++i)
    ASSERT_TRUE(e.submit(req(i, 10, 50)));
  std::map<uint64_t, int64_t> seen;
  step_and_record(e, seen);
  EXPECT_EQ(e.stats().running, 2);
  EXPECT_EQ(e.stats().waiting, 3);
  auto tokens = drain(e, seen);
  for (uint64_t i = 1; i <= 5; ++i)
    EXPECT_EQ(tokens[i], 50);
}

TEST(BatchEngine, PreemptsTheNewestWhenKvRunsOutAndStillFinishesEveryRequest) {
  LinearCost cost;
  // 8 blocks of 16 tokens: two 40-token prompts fit (3 blocks each), growing to 100 tokens do not.
  BatchEngine e(cost, BatchEngineConfig{Tokens(128)});
  ASSERT_TRUE(e.submit(req(1, 40, 60)));
  ASSERT_TRUE(e.submit(req(2, 40, 60)));
  bool preempted_2 = false;
  std::map<uint64_t, int64_t> tokens;
  while (!e.idle()) {
    for (const auto& ev : e.step().events) {
      if (ev.kind == EngineEventKind::kPreempted) {
        EXPECT_EQ(ev.id, 2u) << "the newest sequence is preempted first";
        preempted_2 = true;
      }
      if (ev.kind == EngineEventKind::kToken) tokens[ev.id] = ev.tokens;
    }
    ASSERT_LE(e.stats().kv_usage, 1.0);
  }
  EXPECT_TRUE(preempted_2);
  EXPECT_GE(e.stats().preemptions, 1u);
  EXPECT_EQ(tokens[1], 60);
  EXPECT_EQ(tokens[2], 60);
  EXPECT_GT(e.stats().prompt_tokens, 80u);  // recomputation counts as prompt work
}

TEST(BatchEngine, RejectsWhatCanNeverFitAndCancelsAnywhere) {
  LinearCost cost;
  BatchEngine e(cost, BatchEngineConfig{Tokens(160)});
  EXPECT_FALSE(e.submit(req(1, 150, 20)));  // 170 tokens > 160
  EXPECT_FALSE(e.submit(req(2, 0, 5)));
  ASSERT_TRUE(e.submit(req(3, 50, 20)));
  EXPECT_FALSE(e.submit(req(3, 50, 20)));  // duplicate id
  ASSERT_TRUE(e.submit(req(4, 50, 20)));
  e.step();
  EXPECT_GT(e.stats().kv_usage, 0.0);
  EXPECT_TRUE(e.cancel(3));
  EXPECT_TRUE(e.cancel(4));
  EXPECT_FALSE(e.cancel(4));
  EXPECT_TRUE(e.idle());
  EXPECT_EQ(e.stats().kv_usage, 0.0);
}

TEST(BatchEngine, PrefixCacheSkipsCachedPromptBlocks) {
  LinearCost cost;
  BatchEngineConfig cfg{Tokens(100000)};
  cfg.prefix_cache = true;
  cfg.prefix_block_tokens = 512;
  BatchEngine e(cost, cfg);
  ASSERT_TRUE(e.submit(req(1, 1100, 1, {7, 8})));
  EXPECT_EQ(e.step().duration, microseconds(1100));
  ASSERT_TRUE(e.submit(req(2, 1100, 1, {7, 8, 9})));
  EXPECT_EQ(e.step().duration, microseconds(1100 - 1024));
  ASSERT_TRUE(e.submit(req(3, 1100, 1, {7, 99})));  // diverges after the first block
  EXPECT_EQ(e.step().duration, microseconds(1100 - 512));
  EXPECT_EQ(e.stats().prefix_hits, 1024u + 512u);
  EXPECT_EQ(e.stats().prefix_queries, 3u * 1100u);
}

TEST(BatchEngine, RandomLoadsFinishEveryRequestExactly) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    Rng rng(seed);  // the same loads with every standard library
    LinearCost cost;
    BatchEngineConfig cfg{Tokens(rng.uniform_int(256, 4096))};
    cfg.chunked_prefill = seed % 2 == 0;
    cfg.max_num_seqs = static_cast<int>(rng.uniform_int(1, 16));
    cfg.max_batched_tokens = Tokens(rng.uniform_int(64, 2048));
    cfg.prefix_cache = rng.uniform_below(2) == 0;
    BatchEngine e(cost, cfg);
    std::map<uint64_t, int64_t> want;
    std::map<uint64_t, int64_t> seen;
    for (uint64_t id = 1; id <= 60; ++id) {
      int64_t prompt = rng.uniform_int(1, 200);
      int64_t out = rng.uniform_int(1, 60);
      if (e.submit(req(id, prompt, out, {rng.uniform_below(4), rng.uniform_below(4)})))
        want[id] = out;
      if (id % 7 == 0) {
        for (int k = 0; k < 3; ++k)
          step_and_record(e, seen);
      }
      if (id % 13 == 0 && want.erase(id - 1) && !e.cancel(id - 1)) ADD_FAILURE() << "cancel failed";
    }
    auto got = drain(e, seen);
    for (const auto& [id, out] : want)
      EXPECT_EQ(got[id], out) << "seed " << seed << " request " << id;
    EXPECT_EQ(e.stats().kv_usage, 0.0) << "seed " << seed;
  }
}

}  // namespace
}  // namespace gf

namespace gf {
namespace {

// The simulator's mode: only the first token of each sequence is an event, and step() into a
// reused iteration gives the same schedule as stepping fresh ones.
TEST(BatchEngine, FirstTokenOnlyModeKeepsTheScheduleAndDropsTheOtherTokenEvents) {
  LinearCost cost;
  BatchEngineConfig all{Tokens(4000)};
  BatchEngineConfig first = all;
  first.every_token = false;
  BatchEngine a(cost, all), b(cost, first);
  for (uint64_t id = 1; id <= 5; ++id) {
    ASSERT_TRUE(a.submit(req(id, 50 * static_cast<int64_t>(id), 4 + static_cast<int64_t>(id))));
    ASSERT_TRUE(b.submit(req(id, 50 * static_cast<int64_t>(id), 4 + static_cast<int64_t>(id))));
  }
  EngineIteration reused;
  std::map<uint64_t, int> first_tokens;
  int finished = 0;
  while (!a.idle()) {
    EngineIteration fresh = a.step();
    b.step(reused);
    EXPECT_EQ(fresh.duration, reused.duration);
    EXPECT_EQ(fresh.prefill, reused.prefill);
    for (const auto& ev : reused.events) {
      if (ev.kind == EngineEventKind::kToken) {
        EXPECT_EQ(ev.tokens, 1) << "only first tokens";
        ++first_tokens[ev.id];
      }
      finished += ev.kind == EngineEventKind::kFinished;
    }
  }
  EXPECT_TRUE(b.idle());
  EXPECT_EQ(finished, 5);
  EXPECT_EQ(first_tokens.size(), 5u);
  for (const auto& [id, n] : first_tokens)
    EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(a.stats().generation_tokens, b.stats().generation_tokens);
}

}  // namespace
}  // namespace gf

namespace gf {
namespace {

struct Seen {
  Duration at;
  uint64_t id;
  EngineEventKind kind;
  int64_t tokens;
  bool operator==(const Seen&) const = default;
};

// Steps `e` until the first iteration that would start at or after `until` (or it is idle),
// recording each event at its iteration's end, as a simulator does. `budget` on: quiet runs in
// one step. Returns the number of steps that ran several iterations.
int run_until(BatchEngine& e, Duration& t, Duration until, bool budget, std::vector<Seen>& seen) {
  int jumps = 0;
  EngineIteration it;
  while (!e.idle() && t < until) {
    if (budget) {
      e.step(it, until - t);
    } else {
      e.step(it);
    }
    jumps += it.iterations > 1;
    t += it.duration;
    for (const auto& ev : it.events)
      seen.push_back({t, ev.id, ev.kind, ev.tokens});
  }
  t = std::max(t, until);
  return jumps;
}

// The simulator's shortcut: quiet decode iterations run in one step must leave the engine, its
// events and its clock exactly where as many single steps would, whatever arrives in between and
// whenever the KV cache runs short.
TEST(BatchEngine, QuietIterationsInOneStepMatchSingleStepsExactly) {
  int jumps = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    Rng rng(seed);
    LinearCost cost;
    BatchEngineConfig cfg{Tokens(rng.uniform_int(512, 8192))};
    cfg.every_token = false;
    cfg.chunked_prefill = seed % 2 == 0;
    cfg.max_num_seqs = static_cast<int>(rng.uniform_int(1, 32));
    cfg.max_batched_tokens = Tokens(rng.uniform_int(128, 2048));
    cfg.prefix_cache = rng.uniform_below(2) == 0;
    BatchEngine single(cost, cfg), batched(cost, cfg);
    Duration ts{0}, tb{0}, arrival{0};
    std::vector<Seen> a, b;
    for (uint64_t id = 1; id <= 80; ++id) {
      arrival += microseconds(rng.uniform_int(0, 20000));
      run_until(single, ts, arrival, false, a);
      jumps += run_until(batched, tb, arrival, true, b);
      ASSERT_EQ(ts, tb) << "seed " << seed << " before request " << id;
      const EngineStats x = single.stats(), y = batched.stats();
      EXPECT_EQ(x.running, y.running);
      EXPECT_EQ(x.waiting, y.waiting);
      EXPECT_EQ(x.kv_usage, y.kv_usage);
      EXPECT_EQ(x.generation_tokens, y.generation_tokens);
      EXPECT_EQ(x.preemptions, y.preemptions);
      const EngineRequest r = req(id, rng.uniform_int(1, 600), rng.uniform_int(1, 300),
                                  {rng.uniform_below(4), rng.uniform_below(4)});
      EXPECT_EQ(single.submit(r), batched.submit(r));
      if (id % 17 == 0) EXPECT_EQ(single.cancel(id - 3), batched.cancel(id - 3));
    }
    const Duration end = Duration(std::chrono::hours(1));
    run_until(single, ts, end, false, a);
    jumps += run_until(batched, tb, end, true, b);
    EXPECT_TRUE(single.idle() && batched.idle()) << "seed " << seed;
    EXPECT_EQ(a, b) << "seed " << seed;
    EXPECT_EQ(single.stats().finished, batched.stats().finished);
  }
  EXPECT_GT(jumps, 100) << "the loads must give quiet runs to batch";
}

}  // namespace
}  // namespace gf

namespace gf {
namespace {

// Records what each mixed iteration computed.
class RecordingCost final : public IterationCost {
 public:
  Duration prefill(Tokens t) const override { return microseconds(t.value); }
  Duration decode(int batch, Tokens) const override { return microseconds(100 + 10 * batch); }
  Duration mixed(const MixedIteration& m) const override {
    seen.push_back(m);
    return microseconds(m.prefill.value + 10 * m.batch);
  }
  mutable std::vector<MixedIteration> seen;
};

// vLLM V1: a prompt longer than what is left of the budget is cut into chunks, each sharing an
// iteration with the running decodes, which keep making a token every iteration.
TEST(BatchEngine, ChunkedPrefillCutsALongPromptAndKeepsTheDecodesGoing) {
  RecordingCost cost;
  BatchEngineConfig cfg{Tokens(100000)};
  cfg.max_batched_tokens = Tokens(100);
  BatchEngine e(cost, cfg);
  ASSERT_TRUE(e.submit(req(1, 10, 50)));
  std::map<uint64_t, int64_t> tokens;
  step_and_record(e, tokens);  // 1's prefill
  ASSERT_EQ(tokens[1], 1);
  cost.seen.clear();
  ASSERT_TRUE(e.submit(req(2, 450, 5)));
  // 1 takes one token of each budget, so 2's 450 prompt tokens take chunks of 99: five of them.
  for (int i = 1; i <= 5; ++i) {
    const EngineIteration it = e.step();
    EXPECT_TRUE(it.prefill);
    int got = 0;
    for (const auto& ev : it.events) {
      if (ev.kind != EngineEventKind::kToken) continue;
      EXPECT_EQ(ev.tokens, tokens[ev.id] + 1);
      tokens[ev.id] = ev.tokens;
      got += ev.id == 2;
    }
    EXPECT_EQ(tokens[1], 1 + i) << "the decode goes on in chunk " << i;
    EXPECT_EQ(got, i == 5 ? 1 : 0) << "2's first token comes with its last chunk, " << i;
  }
  ASSERT_EQ(cost.seen.size(), 5u);
  double attention = 0;
  int64_t prompt = 0;
  for (const MixedIteration& m : cost.seen) {
    EXPECT_LE(m.prefill.value + m.batch, 100) << "an iteration stays within the budget";
    EXPECT_EQ(m.batch, 1);
    prompt += m.prefill.value;
    attention += m.prefill_attention;
  }
  EXPECT_EQ(prompt, 450);
  // The chunks' attention adds up to the whole prompt's: chunking does not make a prompt cheaper.
  EXPECT_DOUBLE_EQ(attention, 450.0 * 450.0);
  tokens = drain(e, tokens);
  EXPECT_EQ(tokens[1], 50);
  EXPECT_EQ(tokens[2], 5);
}

// The same load on both schedulers: whole prefills leave the decoding sequence waiting for the
// newcomers' prompts; chunks interleave with it, so its longest gap between tokens is shorter.
TEST(BatchEngine, ChunksShortenTheLongestStallAWholePrefillCauses) {
  const auto longest_gap = [](bool chunked) {
    LinearCost cost;
    BatchEngineConfig cfg{Tokens(100000)};
    cfg.max_batched_tokens = Tokens(512);
    cfg.chunked_prefill = chunked;
    BatchEngine e(cost, cfg);
    EXPECT_TRUE(e.submit(req(1, 10, 40)));
    Duration t{0}, last{0}, gap{0};
    for (int i = 0; i < 200 && !e.idle(); ++i) {
      if (i == 3)
        for (uint64_t id = 2; id <= 6; ++id)
          EXPECT_TRUE(e.submit(req(id, 3000, 2)));
      const EngineIteration it = e.step();
      t += it.duration;
      for (const auto& ev : it.events) {
        if (ev.id != 1 || ev.kind != EngineEventKind::kToken) continue;
        gap = std::max(gap, t - last);
        last = t;
      }
    }
    EXPECT_TRUE(e.idle());
    return gap;
  };
  const Duration whole = longest_gap(false), chunked = longest_gap(true);
  EXPECT_GE(whole, microseconds(3000)) << "a whole 3000-token prefill stalls the decode";
  EXPECT_LE(chunked, microseconds(512 + 100)) << "a chunk stalls it at most one budget";
}

// A sequence preempted partway through its prompt starts it again, and finishes.
TEST(BatchEngine, ChunkedPreemptionRecomputesAndEveryRequestFinishes) {
  LinearCost cost;
  BatchEngineConfig cfg{Tokens(640)};  // 40 blocks
  cfg.max_batched_tokens = Tokens(64);
  BatchEngine e(cost, cfg);
  ASSERT_TRUE(e.submit(req(1, 300, 200)));
  ASSERT_TRUE(e.submit(req(2, 300, 30)));
  auto got = drain(e);
  EXPECT_EQ(got[1], 200);
  EXPECT_EQ(got[2], 30);
  EXPECT_GT(e.stats().preemptions, 0u);
  EXPECT_GT(e.stats().prompt_tokens, 600u) << "a preempted sequence recomputes";
}

}  // namespace
}  // namespace gf
