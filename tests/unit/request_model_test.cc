#include "perfmodel/request_model.h"

#include <gtest/gtest.h>

#include <string>

#include "common/prefix_hash.h"
#include "perfmodel/batch_engine.h"
#include "perfmodel/gpu_memory.h"

namespace gf {
namespace {

using std::chrono::microseconds;

RequestShape shape(std::string_view text, bool ignore_eos = true) {
  RequestShape s;
  s.prompt_text = text;
  s.ignore_eos = ignore_eos;
  return s;
}

TEST(RequestModel, PromptTokensAreTheSharedEstimateUnlessGiven) {
  const RequestModelConfig c;
  const std::string text(31, 'x');
  auto p = plan_request(shape(text), c);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->prompt, Tokens(8));  // 31 bytes / 4 rounded up, as the gateway estimates it
  RequestShape exact = shape(text);
  exact.prompt_tokens = Tokens(1000);
  EXPECT_EQ(plan_request(exact, c)->prompt, Tokens(1000));
}

TEST(RequestModel, KeysThePrefixCacheOnTheGatewaysBlocks) {
  RequestModelConfig c;
  const std::string text(5000, 'a');
  auto p = plan_request(shape(text), c);
  ASSERT_TRUE(p.ok());
  // The very hashes the gateway routed on: 9 full 512-byte blocks.
  EXPECT_EQ(p->prefix_hashes, prefix_block_hashes(text, PrefixHashConfig{}));
  EXPECT_EQ(p->prefix_hashes.size(), 9u);
  EXPECT_EQ(prefix_block_tokens(c.prefix), 128);
  // A trace replayer's block ids stand in for them.
  RequestShape ids = shape(text);
  ids.hash_ids = {7, 8};
  EXPECT_EQ(plan_request(ids, c)->prefix_hashes, (std::vector<uint64_t>{7, 8}));
}

TEST(RequestModel, MaxTokensDefaultsToWhatTheContextLeavesAndMayNotExceedIt) {
  RequestModelConfig c;
  c.context_length = Tokens(4096);
  auto p = plan_request(shape("hi"), c);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->max_tokens, Tokens(4095));
  EXPECT_EQ(p->output, Tokens(4095));  // ignore_eos: runs to max_tokens
  RequestShape over = shape("hi");
  over.max_tokens = Tokens(5000);
  auto err = plan_request(over, c);
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(err.error().message.find("maximum context length is 4096 tokens. However, you "
                                     "requested 5001 tokens (1 in the messages, 5000 in the"),
            std::string::npos);
}

TEST(RequestModel, SimulatedEosIsSeededAndPortable) {
  // 1 + the first geometric(1/128) draw of Rng(42), which rng_test pins at 11.
  EXPECT_EQ(simulated_output(42, Tokens(500), 128), Tokens(12));
  EXPECT_EQ(simulated_output(42, Tokens(5), 128), Tokens(5));  // capped at max_tokens
  RequestModelConfig c;
  RequestShape s = shape("hello", false);
  s.seed = 42;
  s.max_tokens = Tokens(500);
  EXPECT_EQ(plan_request(s, c)->output, Tokens(12));
}

// Unit cost: 1 µs per prefill token, 100 µs per decode iteration.
class UnitCost final : public IterationCost {
 public:
  Duration prefill(Tokens t) const override { return microseconds(t.value); }
  Duration decode(int, Tokens) const override { return microseconds(100); }
  Duration mixed(const MixedIteration& m) const override { return microseconds(m.prefill.value); }
};

TEST(RequestModel, ASharedPromptPrefixIsAnEnginePrefixCacheHit) {
  const RequestModelConfig c;
  UnitCost cost;
  BatchEngineConfig ec{Tokens(16384)};
  ec.prefix_cache = true;
  ec.prefix_block_tokens = prefix_block_tokens(c.prefix);
  BatchEngine engine(cost, ec);
  const std::string system(1100, 's');  // two full blocks and a partial one
  const std::string first = system + "first question";
  const std::string second = system + "another question";
  auto a = plan_request(shape(first), c);
  auto b = plan_request(shape(second), c);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(engine.submit(EngineRequest{1, a->prompt, Tokens(1), a->prefix_hashes}));
  while (!engine.idle())
    engine.step();
  ASSERT_TRUE(engine.submit(EngineRequest{2, b->prompt, Tokens(1), b->prefix_hashes}));
  const EngineIteration it = engine.step();
  // Two 128-token blocks were cached: only the rest of the second prompt is prefilled.
  EXPECT_EQ(engine.stats().prefix_hits, 256u);
  EXPECT_EQ(it.duration, microseconds(b->prompt.value - 256));
}

TEST(GpuMemory, ReadsTheSizeFromTheName) {
  EXPECT_EQ(gpu_memory_from_name("A100-80GB"), MiB(80 * 1024));
  EXPECT_EQ(gpu_memory_from_name("H100-94gb"), MiB(94 * 1024));
  EXPECT_EQ(gpu_memory_from_name("A10-24GB"), MiB(24 * 1024));
  EXPECT_EQ(gpu_memory_from_name("L40S"), MiB(48 * 1024));  // from the GPU catalogue
  EXPECT_EQ(gpu_memory_from_name("NVIDIA H200"), MiB(141 * 1024));
  EXPECT_EQ(gpu_memory_from_name("RTX-4090"), MiB(80 * 1024));  // unknown: the default
  EXPECT_EQ(gpu_memory_from_name("H100-SXM"), MiB(80 * 1024));
  EXPECT_EQ(gpu_memory_from_name("X-GB0"), MiB(80 * 1024));
}

}  // namespace
}  // namespace gf
