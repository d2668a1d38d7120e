#include "perfmodel/perf_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "common/gpu_catalog.h"
#include "perfmodel/fit.h"
#include "perfmodel/gpu_memory.h"
#include "perfmodel/profile_csv.h"
#include "perfmodel/profile_fit.h"
#include "perfmodel_io.h"

namespace gf {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const std::string kSourceDir = GPUFLEET_SOURCE_DIR;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double ms(Duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// The fit from the real profile files, run once for the whole suite (about a second under ASan).
// Loaded in SetUp, not SetUpTestSuite: gtest reports a failure there as "skipped", and missing
// profile data must fail the run, not pass it quietly.
class PerfModelFit : public ::testing::Test {
 protected:
  void SetUp() override {
    if (report_ == nullptr) {
      auto set = load_profiles(kSourceDir + "/../shared/data/profiles");
      ASSERT_TRUE(set.ok()) << set.error().describe();
      auto r = fit_profiles(*set);
      ASSERT_TRUE(r.ok()) << r.error().describe();
      report_ = new FitReport(std::move(*r));
    }
  }
  static void TearDownTestSuite() {
    delete report_;
    report_ = nullptr;
  }
  static const FitReport& report() { return *report_; }

 private:
  static inline FitReport* report_ = nullptr;
};

TEST_F(PerfModelFit, HeldOutMedianErrorIsAtMost15PercentForEveryKeyAndPhase) {
  ASSERT_FALSE(report().keys.empty());
  for (const auto& k : report().keys) {
    SCOPED_TRACE(k.key.gpu + " " + k.key.model + " tp=" + std::to_string(k.key.tp));
    EXPECT_GT(k.prefill_held_out.count, 0u);
    EXPECT_GT(k.decode_held_out.count, 0u);
    EXPECT_LE(k.prefill_held_out.median_pct, 15.0);
    EXPECT_LE(k.decode_held_out.median_pct, 15.0);
  }
}

TEST_F(PerfModelFit, CoversTheMeasuredAndTheVidurCombinations) {
  std::set<std::tuple<std::string, std::string, int, std::string>> keys;
  for (const auto& k : report().keys)
    keys.insert({k.key.gpu, k.key.model, k.key.tp, k.key.source});
  for (const char* gpu : {"A100-80GB", "H100-80GB"}) {
    for (int tp : {2, 4, 8})
      EXPECT_TRUE(keys.count({gpu, "meta-llama/Llama-2-70b-hf", tp, "splitwise"})) << gpu << tp;
    EXPECT_TRUE(keys.count({gpu, "bigscience/bloom", 8, "splitwise"})) << gpu;
    EXPECT_TRUE(keys.count({gpu, "meta-llama/Llama-2-7b-hf", 1, "vidur"})) << gpu;
  }
  EXPECT_TRUE(keys.count({"A100-80GB", "meta-llama/Meta-Llama-3-8B", 1, "vidur"}));
  EXPECT_TRUE(keys.count({"H100-80GB", "meta-llama/Meta-Llama-3-8B", 1, "vidur-extrapolated"}));
  // The ratio is H100 faster, more so when compute-bound.
  EXPECT_GT(report().ratio_memory_bound, report().ratio_compute_bound);
  EXPECT_LT(report().ratio_memory_bound, 1.0);
  EXPECT_GT(report().ratio_compute_bound, 0.0);
}

TEST_F(PerfModelFit, CompiledInCoefficientsAreWhatTheFitGivesNow) {
  const auto pairs = PerfModel::known_pairs();
  ASSERT_EQ(pairs.size(), report().keys.size())
      << "src/perfmodel/fitted_coefficients.inc is stale: run build/debug/tools/perfmodel_fit";
  const auto close = [](double a, double b) {
    return std::abs(a - b) <= 1e-9 * std::max({1.0, std::abs(a), std::abs(b)});
  };
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto& k = report().keys[i];
    SCOPED_TRACE(k.key.gpu + " " + k.key.model + " tp=" + std::to_string(k.key.tp));
    EXPECT_EQ(pairs[i].gpu, k.key.gpu);
    EXPECT_EQ(pairs[i].model, k.key.model);
    EXPECT_EQ(pairs[i].tp, k.key.tp);
    EXPECT_EQ(pairs[i].source, k.key.source);
    auto pm = PerfModel::lookup(k.key.gpu, k.key.model, k.key.tp);
    ASSERT_TRUE(pm.ok()) << pm.error().describe();
    const auto& c = pm->coefficients();
    EXPECT_TRUE(close(c.prefill_floor_ms, k.coef.prefill_floor_ms));
    EXPECT_TRUE(close(c.prefill_base_ms, k.coef.prefill_base_ms));
    EXPECT_TRUE(close(c.prefill_per_token_ms, k.coef.prefill_per_token_ms));
    EXPECT_TRUE(close(c.prefill_per_token2_ms, k.coef.prefill_per_token2_ms));
    EXPECT_TRUE(close(c.decode_base_ms, k.coef.decode_base_ms));
    EXPECT_TRUE(close(c.decode_per_seq_ms, k.coef.decode_per_seq_ms));
    EXPECT_TRUE(close(c.decode_per_ctx_token_ms, k.coef.decode_per_ctx_token_ms));
  }
}

TEST_F(PerfModelFit, GeneratedFilesAreCurrent) {
  EXPECT_TRUE(slurp(kSourceDir + "/src/perfmodel/fitted_coefficients.inc") ==
              render_coefficients_inc(report()))
      << "src/perfmodel/fitted_coefficients.inc is stale: run build/debug/tools/perfmodel_fit";
  EXPECT_TRUE(slurp(kSourceDir + "/docs/perfmodel.md") == render_perfmodel_doc(report()))
      << "docs/perfmodel.md is stale: run build/debug/tools/perfmodel_fit";
}

TEST_F(PerfModelFit, SplitwiseOutliersAreLeftOut) {
  // Llama-2-70B at TP2, batch 64: 794 ms of prefill after 6633 ms at batch 32.
  int tp2_batch64 = 0;
  for (const auto& e : report().excluded)
    if (e.key.model == "meta-llama/Llama-2-70b-hf" && e.key.tp == 2 && e.batch == 64) ++tp2_batch64;
  EXPECT_EQ(tp2_batch64, 2);  // A100 and H100
  EXPECT_EQ(report().excluded.size(), 2u);
}

TEST(PerfModel, NeverFasterWithMoreTokensSequencesOrContext) {
  for (const auto& k : PerfModel::known_pairs()) {
    SCOPED_TRACE(k.gpu + " " + k.model + " tp=" + std::to_string(k.tp));
    auto pm = PerfModel::lookup(k.gpu, k.model, k.tp);
    ASSERT_TRUE(pm.ok());
    Duration last{0};
    for (int64_t p = 1; p <= 65536; p = p * 3 / 2 + 1) {
      const Duration t = pm->prefill_time(Tokens(p));
      EXPECT_GE(t, last) << "prompt " << p;
      EXPECT_GT(t, Duration(0));
      last = t;
    }
    for (int64_t ctx : {0, 512, 4096}) {
      last = Duration(0);
      for (int b = 1; b <= 512; b *= 2) {
        const Duration t = pm->decode_iteration_time(b, Tokens(ctx * b));
        EXPECT_GE(t, last) << "batch " << b;
        last = t;
      }
    }
    last = Duration(0);
    for (int64_t c = 0; c <= 1 << 20; c = c * 2 + 100) {
      const Duration t = pm->decode_iteration_time(16, Tokens(c));
      EXPECT_GE(t, last) << "context " << c;
      last = t;
    }
    EXPECT_EQ(pm->prefill_time(Tokens(0)), Duration(0));
    EXPECT_EQ(pm->decode_iteration_time(0, Tokens(0)), Duration(0));
  }
}

// A mixed iteration is a prefill of its chunks with the decodes riding on it: it reduces to the
// two kinds it mixes, costs at least either, and less than running them one after the other
// (the weights are read once).
TEST(PerfModel, AMixedIterationIsItsChunksWithTheDecodesRidingOnThem) {
  for (const auto& k : PerfModel::known_pairs()) {
    SCOPED_TRACE(k.gpu + " " + k.model + " tp=" + std::to_string(k.tp));
    auto pm = PerfModel::lookup(k.gpu, k.model, k.tp);
    ASSERT_TRUE(pm.ok());
    const PerfCoefficients& c = pm->coefficients();
    for (double p : {1.0, 100.0, 2048.0, 8192.0}) {
      EXPECT_DOUBLE_EQ(c.mixed_ms(p, p * p, 0, 0), c.prefill_ms(p)) << "a whole prompt alone";
      for (double b : {1.0, 32.0, 256.0}) {
        const double ctx = 1500 * b;
        EXPECT_DOUBLE_EQ(c.mixed_ms(0, 0, b, ctx), c.decode_ms(b, ctx));
        const double m = c.mixed_ms(p, p * p, b, ctx);
        EXPECT_GE(m, c.prefill_ms(p)) << p << " " << b;
        EXPECT_GE(m, c.decode_ms(b, ctx)) << p << " " << b;
        EXPECT_LE(m, c.prefill_ms(p) + c.decode_ms(b, ctx)) << p << " " << b;
        EXPECT_GE(c.mixed_ms(p, p * p, b + 1, ctx + 1500), m) << "more decodes never cost less";
      }
    }
    // A later chunk attends to the prompt before it: 1024 tokens at offset 7168 cost more than
    // the first 1024.
    const double late = c.mixed_ms(1024, 8192.0 * 8192 - 7168.0 * 7168, 0, 0);
    const double first = c.mixed_ms(1024, 1024.0 * 1024, 0, 0);
    if (c.prefill_per_token2_ms > 0 && first > c.prefill_floor_ms) {
      EXPECT_GT(late, first);
    } else {
      EXPECT_GE(late, first);
    }
  }
}

// vLLM V1's OpenAI-server defaults (vllm/engine/arg_utils.py): 8192 tokens an iteration on a GPU
// of 70 GiB or more, except the A100 (a measured regression there), else 2048.
TEST(PerfModel, TheIterationBudgetIsVllmsDefaultForTheGpu) {
  EXPECT_EQ(PerfModel::default_max_batched_tokens("H100-80GB"), Tokens(8192));
  EXPECT_EQ(PerfModel::default_max_batched_tokens("NVIDIA H100 80GB HBM3"), Tokens(8192));
  EXPECT_EQ(PerfModel::default_max_batched_tokens("H200-141GB"), Tokens(8192));
  EXPECT_EQ(PerfModel::default_max_batched_tokens("A100-80GB"), Tokens(2048));
  EXPECT_EQ(PerfModel::default_max_batched_tokens("a100_80gb"), Tokens(2048));
  EXPECT_EQ(PerfModel::default_max_batched_tokens("L40S-48GB"), Tokens(2048));
  EXPECT_EQ(PerfModel::default_max_batched_tokens("some-unknown-gpu"), Tokens(2048));
}

TEST(PerfModel, KvCapacityMatchesAHandCalculation) {
  auto arch = PerfModel::arch_of("meta-llama/Llama-2-7b-hf");
  ASSERT_TRUE(arch.ok());
  // 2 (K, V) x 32 layers x 32 KV heads x 128 head dim x 2 bytes.
  EXPECT_EQ(arch->kv_bytes_per_token().value, 524'288);
  EXPECT_EQ(arch->weight_bytes().value, 13'476'831'232);
  auto pm = PerfModel::lookup("A100-80GB", "meta-llama/Llama-2-7b-hf", 1);
  ASSERT_TRUE(pm.ok());
  // 80 GiB x 0.9 = 77,309,411,328 bytes; minus the weights; over 512 KiB a token.
  EXPECT_EQ(pm->kv_capacity(MiB(81920), 0.9).value, (77'309'411'328 - 13'476'831'232) / 524'288);
  EXPECT_EQ(pm->kv_capacity(MiB(81920), 0.9).value, 121'750);
  EXPECT_EQ(pm->kv_capacity(MiB(8192), 0.9).value, 0);  // the weights do not fit
  EXPECT_EQ(pm->kv_capacity(MiB(81920), 0).value, 0);

  // GQA, and TP multiplies the memory: Llama-2-70B has 8 KV heads.
  auto big = PerfModel::lookup("H100-80GB", "llama-2-70b", 2);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->arch().kv_bytes_per_token().value, 2 * 80 * 8 * 128 * 2);
  EXPECT_EQ(big->kv_capacity(MiB(81920), 0.9).value,
            (2 * 77'309'411'328 - 137'953'296'384) / 327'680);
}

TEST(PerfModel, ColdStartIsWeightsOverBandwidthPlusInit) {
  auto pm = PerfModel::lookup("A100-80GB", "meta-llama/Llama-2-7b-hf", 1);
  ASSERT_TRUE(pm.ok());
  // 13,476,831,232 bytes at 2 GB/s = 6.738415616 s, plus 5 s.
  EXPECT_EQ(pm->cold_start(2e9, seconds(5)), Duration(11'738'415'616));
  EXPECT_EQ(pm->cold_start(1e18, seconds(3)), seconds(3) + Duration(13));
  EXPECT_EQ(pm->cold_start(0, seconds(5)), Duration::max());
}

TEST(PerfModel, SustainableRpsFallsAsTargetsTighten) {
  for (const auto& [gpu, model, tp] : std::vector<std::tuple<std::string, std::string, int>>{
           {"A100-80GB", "meta-llama/Llama-2-7b-hf", 1},
           {"H100-80GB", "meta-llama/Llama-2-70b-hf", 4},
           {"H100-80GB", "meta-llama/Meta-Llama-3-8B", 1}}) {
    SCOPED_TRACE(gpu + " " + model);
    auto pm = PerfModel::lookup(gpu, model, tp);
    ASSERT_TRUE(pm.ok());
    const Tokens prompt(1024), output(256);
    const double loose =
        pm->sustainable_rps(SloTarget{seconds(10), milliseconds(500)}, prompt, output);
    EXPECT_GT(loose, 0.1);
    double last = loose;
    for (int ttft_ms = 10000; ttft_ms >= 50; ttft_ms = ttft_ms * 2 / 3) {
      const double r =
          pm->sustainable_rps(SloTarget{milliseconds(ttft_ms), milliseconds(500)}, prompt, output);
      EXPECT_LE(r, last) << "ttft " << ttft_ms;
      last = r;
    }
    last = loose;
    for (int tpot_ms = 500; tpot_ms >= 5; tpot_ms = tpot_ms * 2 / 3) {
      const double r =
          pm->sustainable_rps(SloTarget{seconds(10), milliseconds(tpot_ms)}, prompt, output);
      EXPECT_LE(r, last) << "tpot " << tpot_ms;
      last = r;
    }
    // Below one prefill or one bare decode iteration nothing is sustainable.
    const Duration prefill = pm->prefill_time(prompt);
    EXPECT_EQ(pm->sustainable_rps(SloTarget{prefill / 2, seconds(1)}, prompt, output), 0);
    EXPECT_EQ(pm->sustainable_rps(SloTarget{seconds(10), milliseconds(1)}, prompt, output), 0);
    // A smaller KV cache caps the batch, so fewer requests.
    EXPECT_LT(pm->sustainable_rps(SloTarget{seconds(10), milliseconds(500)}, prompt, output,
                                  Tokens(4 * (1024 + 128))),
              loose);
    // Bigger requests: fewer of them.
    EXPECT_LT(pm->sustainable_rps(SloTarget{seconds(10), milliseconds(500)}, Tokens(4096), output),
              loose);
  }
}

TEST(PerfModel, SustainableRpsIsConsistentWithItsOwnLatencies) {
  // At the answer, a single request's TTFT (its prefill) fits, and the rate keeps the prefill
  // share below one.
  auto pm = PerfModel::lookup("A100-80GB", "llama-2-70b", 8);
  ASSERT_TRUE(pm.ok());
  const double rps = pm->sustainable_rps(SloTarget{}, Tokens(512), Tokens(128));
  EXPECT_GT(rps, 0);
  EXPECT_LT(rps * ms(pm->prefill_time(Tokens(512))) / 1000, 1.0);
}

TEST(PerfModel, UnknownCombinationsAreNotFoundAndNameTheKnownOnes) {
  auto r = PerfModel::lookup("H100-80GB", "microsoft/phi-2", 2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("A100-80GB tp=1"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("H100-80GB tp=1"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("manifest"), std::string::npos) << r.error().message;

  // A GPU neither measured nor in the catalogue: the message names both kinds the model has.
  auto gpu = PerfModel::lookup("MI300X", "meta-llama/Llama-2-7b-hf", 1);
  ASSERT_FALSE(gpu.ok());
  EXPECT_EQ(gpu.error().code, ErrorCode::kNotFound);
  EXPECT_NE(gpu.error().message.find("measured A100-80GB, H100-80GB"), std::string::npos)
      << gpu.error().message;
  EXPECT_NE(gpu.error().message.find("L40S-48GB"), std::string::npos) << gpu.error().message;

  auto model = PerfModel::lookup("A100-80GB", "mistralai/Mistral-7B-v0.1", 1);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.error().code, ErrorCode::kNotFound);
  EXPECT_NE(model.error().message.find("meta-llama/Llama-2-7b-hf"), std::string::npos);

  EXPECT_EQ(PerfModel::lookup("A100-80GB", "llama-2-7b", 0).error().code,
            ErrorCode::kInvalidArgument);
}

TEST(PerfModel, ManualCoefficientsMakeAnyGpuUsable) {
  PerfCoefficients c;
  c.prefill_base_ms = 10;
  c.prefill_per_token_ms = 0.1;
  c.decode_base_ms = 20;
  c.decode_per_seq_ms = 0.5;
  c.decode_per_ctx_token_ms = 0.001;
  auto pm = PerfModel::lookup("MI300X", "phi-2", 1, c);
  ASSERT_TRUE(pm.ok()) << pm.error().describe();
  EXPECT_EQ(pm->source(), "manual");
  EXPECT_EQ(pm->gpu(), "MI300X");
  // A catalogue GPU keeps its catalogue name under manual coefficients.
  EXPECT_EQ(PerfModel::lookup("NVIDIA L40S", "phi-2", 1, c)->gpu(), "L40S-48GB");
  EXPECT_EQ(pm->arch().name, "microsoft/phi-2");
  EXPECT_EQ(pm->prefill_time(Tokens(100)), milliseconds(20));
  EXPECT_EQ(pm->decode_iteration_time(4, Tokens(1000)), milliseconds(23));
  // Unknown GPU: no default KV cache, but the latency targets still bound the rate.
  const double rps = pm->sustainable_rps(SloTarget{}, Tokens(100), Tokens(50));
  EXPECT_GT(rps, 0);
  EXPECT_LT(rps, 1000.0 / 20);

  // Manual coefficients also override fitted ones, and must make sense.
  auto over = PerfModel::lookup("A100-80GB", "llama-2-7b", 1, c);
  ASSERT_TRUE(over.ok());
  EXPECT_EQ(over->coefficients(), c);
  PerfCoefficients bad = c;
  bad.decode_per_seq_ms = -1;
  auto r = PerfModel::lookup("MI300X", "phi-2", 1, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("decodePerSeqMs"), std::string::npos);
  EXPECT_FALSE(PerfModel::lookup("L40S", "no-such-model", 1, c).ok());
}

TEST(PerfModel, AcceptsAliasesAndGpuSpellings) {
  auto a = PerfModel::lookup("a100-80gb", "LLAMA-2-7B", 1);
  ASSERT_TRUE(a.ok()) << a.error().describe();
  EXPECT_EQ(a->gpu(), "A100-80GB");
  EXPECT_EQ(a->arch().name, "meta-llama/Llama-2-7b-hf");
  EXPECT_EQ(a->source(), "vidur");
  EXPECT_TRUE(PerfModel::lookup("A100_80GB", "meta-llama/Meta-Llama-3-8B-Instruct", 1).ok());
  EXPECT_TRUE(PerfModel::lookup("NVIDIA H100-80GB", "bloom", 8).ok());
  EXPECT_EQ(*PerfModel::canonical_gpu("h100-80gb"), "H100-80GB");
  EXPECT_EQ(PerfModel::gpu_memory_of("H100-80GB"), MiB(81920));
  EXPECT_EQ(PerfModel::gpu_memory_of("L40S"), MiB(48 * 1024));  // from the GPU catalogue
  EXPECT_EQ(PerfModel::gpu_memory_of("MI300X"), MiB(0));
  EXPECT_EQ(PerfModel::arch_of("llama2-70b")->name, "meta-llama/Llama-2-70b-hf");
  EXPECT_EQ(PerfModel::arch_of("qwen-72b")->kv_heads, 64);
  EXPECT_EQ(PerfModel::known_models().size(), 9u);
  EXPECT_EQ(PerfModel::known_gpus(), (std::vector<std::string>{"A100-80GB", "H100-80GB"}));
}

TEST(PerfModel, H100IsFasterThanA100ForTheSameCombination) {
  for (const auto& k : PerfModel::known_pairs()) {
    if (k.gpu != "A100-80GB") continue;
    auto a = PerfModel::lookup("A100-80GB", k.model, k.tp);
    auto h = PerfModel::lookup("H100-80GB", k.model, k.tp);
    if (!h.ok()) continue;
    SCOPED_TRACE(k.model + " tp=" + std::to_string(k.tp));
    EXPECT_LT(h->prefill_time(Tokens(2048)), a->prefill_time(Tokens(2048)));
    EXPECT_LT(h->decode_iteration_time(32, Tokens(32 * 1024)),
              a->decode_iteration_time(32, Tokens(32 * 1024)));
  }
}

TEST(PerfModelFitMath, RecoversExactNonNegativeCoefficients) {
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  for (double b = 1; b <= 64; b *= 2)
    for (double c = 100; c <= 10000; c *= 10) {
      x.push_back({1, b, c});
      y.push_back(20 + 0.5 * b + 0.003 * c);
    }
  auto w = fit_nonnegative_relative(x, y);
  ASSERT_TRUE(w.ok());
  EXPECT_NEAR((*w)[0], 20, 1e-9);
  EXPECT_NEAR((*w)[1], 0.5, 1e-9);
  EXPECT_NEAR((*w)[2], 0.003, 1e-12);

  // A truly negative slope is clamped to 0 rather than fitted.
  y.clear();
  for (const auto& row : x)
    y.push_back(100 - 0.5 * row[1] + 0.001 * row[2]);
  w = fit_nonnegative_relative(x, y);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)[1], 0);
  EXPECT_GE((*w)[0], 0);

  EXPECT_FALSE(fit_nonnegative_relative({{1, 2}}, {0}).ok());
  EXPECT_FALSE(fit_nonnegative_relative({{1, 2}, {1}}, {1, 2}).ok());
}

TEST(PerfModelFitMath, PrefillFitFindsTheRoofline) {
  std::vector<PrefillPoint> pts;
  for (double n = 64; n <= 8192; n *= 2)
    pts.push_back({n, std::max(50.0, 0.1 * n + 1e-6 * n * n)});
  auto c = fit_prefill(pts);
  ASSERT_TRUE(c.ok()) << c.error().describe();
  for (const auto& p : pts)
    EXPECT_NEAR(c->prefill_ms(p.tokens), p.ms, 1e-6 * p.ms) << p.tokens;
  EXPECT_NEAR(c->prefill_floor_ms, 50, 1e-9);
  EXPECT_FALSE(fit_prefill({{1, 1}, {2, 2}}).ok());

  const ErrorStats s = error_stats({1, 2, 3, 4, 100});
  EXPECT_EQ(s.count, 5u);
  EXPECT_EQ(s.median_pct, 3);
  EXPECT_EQ(s.p90_pct, 100);
  EXPECT_EQ(median_of({4, 1, 3, 2}), 2.5);
}

TEST(PerfModelCsv, ParsesAndNamesBadCells) {
  auto rows = parse_splitwise_csv(
      "model,hardware,prompt_size,batch_size,token_size,peak_power,average_power,prompt_time,"
      "token_time,e2e_time,tensor_parallel\r\n"
      "llama2-70b,a100-80gb,512,1,128,1.0,0.7,196.25,54.87,7168.9,2\r\n");
  ASSERT_TRUE(rows.ok()) << rows.error().describe();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].hardware, "a100-80gb");
  EXPECT_EQ((*rows)[0].tp, 2);
  EXPECT_DOUBLE_EQ((*rows)[0].prompt_ms, 196.25);

  auto bad = parse_splitwise_csv(
      "model,hardware,prompt_size,batch_size,token_size,prompt_time,token_time,tensor_parallel\n"
      "llama2-70b,a100-80gb,512,1,128,fast,54.87,2\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("row 2, column \"prompt_time\""), std::string::npos)
      << bad.error().message;

  auto missing = parse_vidur_all_reduce_csv(",rank,size\n0,0,2048\n");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("num_workers"), std::string::npos);

  EXPECT_FALSE(CsvTable::parse("a,b\n1,2,3\n").ok());
  EXPECT_FALSE(CsvTable::parse("").ok());
}

}  // namespace
}  // namespace gf

namespace gf {
namespace {

// #16: the names real GPUs report, as NVML gave them (the H200's and H100's read from real
// machines, ../shared/reference/real-gpu-check.md), map to the catalogue names manifests use.
TEST(GpuCatalog, NvmlProductNamesMapToCatalogueNames) {
  const std::pair<const char*, const char*> cases[] = {
      {"NVIDIA H200", "H200-141GB"},
      {"NVIDIA H100 80GB HBM3", "H100-80GB"},
      {"NVIDIA A100-SXM4-80GB", "A100-80GB"},
      {"NVIDIA A100 80GB PCIe", "A100-80GB"},
      {"NVIDIA A100-SXM4-40GB", "A100-40GB"},
      {"NVIDIA L40S", "L40S-48GB"},
      {"NVIDIA A10G", "A10G-24GB"},
      {"NVIDIA L4", "L4-24GB"},
      {"NVIDIA B200", "B200-180GB"},
      {"H100-80GB", "H100-80GB"},
      {"h100_80gb", "H100-80GB"},
      {"nvidia h200", "H200-141GB"},
  };
  for (const auto& [product, name] : cases)
    EXPECT_EQ(catalogue_gpu_name(product), name) << product;
  EXPECT_EQ(catalogue_gpu_name("NVIDIA H200", MiB(143771)), "H200-141GB");  // as reported
  // Unknown: kept as it is, so only a manifest naming it exactly matches it.
  EXPECT_EQ(catalogue_gpu_name("NVIDIA GeForce RTX 4090"), "NVIDIA GeForce RTX 4090");
  EXPECT_EQ(find_gpu_hardware("NVIDIA GeForce RTX 4090"), nullptr);
  // A family name is a model when it has one size or the memory picks one.
  EXPECT_EQ(catalogue_gpu_name("L4"), "L4-24GB");
  EXPECT_EQ(catalogue_gpu_name("h200"), "H200-141GB");
  EXPECT_EQ(catalogue_gpu_name("A100", MiB(40 * 1024)), "A100-40GB");
  EXPECT_EQ(catalogue_gpu_name("A100", MiB(80 * 1024)), "A100-80GB");
  EXPECT_EQ(catalogue_gpu_name("H100", MiB(94 * 1024)), "H100-94GB");
  EXPECT_EQ(catalogue_gpu_name("H100"), "H100");  // two sizes, no memory: not guessed
  // The perf model reads product names too.
  EXPECT_EQ(*PerfModel::canonical_gpu("NVIDIA A100-SXM4-80GB"), "A100-80GB");
  EXPECT_EQ(*PerfModel::canonical_gpu("NVIDIA L40S"), "L40S-48GB");
  EXPECT_EQ(PerfModel::gpu_memory_of("NVIDIA H200"), MiB(141 * 1024));
}

// GPUs without a measured profile get one derived from the measured GPU nearest in memory
// bandwidth, marked as derived; an engine-sim replica on them can start.
TEST(PerfModel, GpusWithoutAMeasuredProfileAreDerivedAndSaySo) {
  auto h200 = PerfModel::lookup("H200-141GB", "meta-llama/Llama-2-70b-hf", 4);
  ASSERT_TRUE(h200.ok()) << h200.error().message;
  EXPECT_EQ(h200->source(), "derived from H100-80GB");
  EXPECT_EQ(h200->gpu(), "H200-141GB");
  auto h100 = PerfModel::lookup("H100-80GB", "meta-llama/Llama-2-70b-hf", 4);
  ASSERT_TRUE(h100.ok());
  // More bandwidth, the same compute: faster decode, the same prefill.
  EXPECT_LT(h200->decode_iteration_time(32, Tokens(32 * 1024)),
            h100->decode_iteration_time(32, Tokens(32 * 1024)));
  EXPECT_EQ(h200->prefill_time(Tokens(2048)), h100->prefill_time(Tokens(2048)));
  // More memory: a bigger KV cache.
  EXPECT_GT(h200->kv_capacity(PerfModel::gpu_memory_of("H200-141GB"), 0.9),
            h100->kv_capacity(PerfModel::gpu_memory_of("H100-80GB"), 0.9));

  auto l4 = PerfModel::lookup("NVIDIA L4", "meta-llama/Llama-2-7b-hf", 1);
  ASSERT_TRUE(l4.ok()) << l4.error().message;
  EXPECT_EQ(l4->source(), "derived from A100-80GB");  // the nearer in bandwidth
  EXPECT_EQ(l4->gpu(), "L4-24GB");

  const auto derived = PerfModel::derived_pairs();
  EXPECT_FALSE(derived.empty());
  for (const auto& k : derived) {
    EXPECT_EQ(k.source.rfind("derived from ", 0), 0u) << k.gpu;
    EXPECT_NE(k.gpu, "A100-80GB");
    EXPECT_NE(k.gpu, "H100-80GB");
  }
  // Unknown GPUs still need coefficients, and the error says so.
  auto unknown = PerfModel::lookup("MI300X-192GB", "meta-llama/Llama-2-7b-hf", 1);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("Give the coefficients in the manifest"),
            std::string::npos);
}

// The derivation checked where both ends are measured: H100 predicted from A100, against H100's
// own fit, for every (model, TP) measured on both. docs/perfmodel.md reports the figures this
// prints; the bounds only catch a derivation that went wrong.
TEST(PerfModel, DerivingH100FromA100IsWithinTheReportedError) {
  std::vector<double> prefill_err, decode_err;
  for (const auto& k : PerfModel::known_pairs()) {
    if (k.gpu != "H100-80GB") continue;
    auto measured = PerfModel::lookup("H100-80GB", k.model, k.tp);
    auto derived = PerfModel::derive("H100-80GB", k.model, k.tp, "A100-80GB");
    if (!measured.ok() || !derived.ok()) continue;
    auto err = [](Duration got, Duration want) {
      return std::abs(to_ms(got) - to_ms(want)) / to_ms(want);
    };
    prefill_err.push_back(
        err(derived->prefill_time(Tokens(2048)), measured->prefill_time(Tokens(2048))));
    decode_err.push_back(err(derived->decode_iteration_time(32, Tokens(32 * 1024)),
                             measured->decode_iteration_time(32, Tokens(32 * 1024))));
  }
  ASSERT_GE(prefill_err.size(), 5u);
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double pm = median(prefill_err), dm = median(decode_err);
  const double px = *std::max_element(prefill_err.begin(), prefill_err.end());
  const double dx = *std::max_element(decode_err.begin(), decode_err.end());
  std::printf(
      "H100 from A100 over %zu pairs: prefill(2048) error median %.1f%% max %.1f%%; "
      "decode(32 x 1024) error median %.1f%% max %.1f%%\n",
      prefill_err.size(), 100 * pm, 100 * px, 100 * dm, 100 * dx);
  // docs/gpu-catalog.md reports these figures; the bounds keep them from drifting unnoticed.
  EXPECT_LT(pm, 0.15);
  EXPECT_LT(dm, 0.15);
  EXPECT_LT(px, 0.35);
  EXPECT_LT(dx, 0.35);
}

// #16, MIG: a MIG device is named after its parent and profile, whichever way NVML or a manifest
// spells it, and its perf model is the parent's slowed by its share of compute and memory.
TEST(GpuCatalog, MigProfilesAndDeviceNames) {
  auto p = parse_mig_profile("3g.40gb");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->compute_slices, 3);
  EXPECT_EQ(p->memory, MiB(40 * 1024));
  EXPECT_TRUE(parse_mig_profile("7G.80GB"));
  for (const char* bad : {"", "3g", "3g.40", "8g.80gb", "0g.10gb", "3g.0gb", "3g.40gbx", "g.40gb",
                          "3x.40gb", "03g.40gb"})
    EXPECT_FALSE(parse_mig_profile(bad)) << bad;

  EXPECT_EQ(catalogue_gpu_name("NVIDIA A100-SXM4-80GB MIG 3g.40gb"), "A100-80GB-MIG-3g.40gb");
  EXPECT_EQ(catalogue_gpu_name("NVIDIA H100 80GB HBM3 MIG 1g.10gb"), "H100-80GB-MIG-1g.10gb");
  EXPECT_EQ(catalogue_gpu_name("a100-80gb-mig-3g.40gb"), "A100-80GB-MIG-3g.40gb");
  auto m = parse_mig_name("A100-80GB-MIG-2g.20gb");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->parent->name, "A100-80GB");
  EXPECT_EQ(m->profile, "2g.20gb");
  EXPECT_EQ(m->shape.compute_slices, 2);
  EXPECT_FALSE(parse_mig_name("RTX-4090-MIG-3g.40gb"));  // no such parent
  EXPECT_FALSE(parse_mig_name("A100-80GB-MIG-9g.40gb"));
  EXPECT_FALSE(parse_mig_name("A100-80GB"));
}

TEST(PerfModel, MigDevicesAreTheirParentScaledByTheirShare) {
  const std::string model = "meta-llama/Llama-2-7b-hf";
  auto whole = PerfModel::lookup("A100-80GB", model, 1);
  auto third = PerfModel::lookup("NVIDIA A100-SXM4-80GB MIG 3g.40gb", model, 1);
  ASSERT_TRUE(whole.ok());
  ASSERT_TRUE(third.ok()) << third.error().message;
  EXPECT_EQ(third->gpu(), "A100-80GB-MIG-3g.40gb");
  EXPECT_THAT(third->source(), ::testing::HasSubstr("MIG 3g.40gb of A100-80GB"));
  const auto& w = whole->coefficients();
  const auto& t = third->coefficients();
  EXPECT_DOUBLE_EQ(t.prefill_per_token_ms, w.prefill_per_token_ms * 7 / 3);  // 3 of 7 slices
  EXPECT_DOUBLE_EQ(t.decode_per_seq_ms, w.decode_per_seq_ms * 2);            // half the memory
  EXPECT_DOUBLE_EQ(t.prefill_base_ms, w.prefill_base_ms);
  EXPECT_GT(third->prefill_time(Tokens(2048)), whole->prefill_time(Tokens(2048)));
  EXPECT_EQ(PerfModel::gpu_memory_of("A100-80GB-MIG-3g.40gb"), MiB(40 * 1024));
  EXPECT_EQ(gpu_memory_from_name("A100-80GB-MIG-3g.40gb"), MiB(40 * 1024));
  EXPECT_LT(third->kv_capacity(MiB(40 * 1024), 0.9).value,
            whole->kv_capacity(MiB(80 * 1024), 0.9).value);
  // A derived parent works too; tensor parallelism across MIG devices does not.
  auto h200 = PerfModel::lookup("H200-141GB-MIG-1g.18gb", model, 1);
  ASSERT_TRUE(h200.ok()) << h200.error().message;
  EXPECT_THAT(h200->source(), ::testing::HasSubstr("derived from H100-80GB"));
  auto tp2 = PerfModel::lookup("A100-80GB-MIG-3g.40gb", model, 2);
  ASSERT_FALSE(tp2.ok());
  EXPECT_EQ(tp2.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(tp2.error().message, ::testing::HasSubstr("tensor-parallel size must be 1"));
}

}  // namespace
}  // namespace gf
