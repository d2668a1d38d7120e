// slo_iteration_budget: the largest block-aligned budget whose mixed iteration fits the TPOT
// target, on every fitted (GPU, model, TP) and a spread of request shapes and loads.
#include "perfmodel/iteration_budget.h"

#include <gtest/gtest.h>

#include "common/rng.h"

namespace gf {
namespace {

using std::chrono::milliseconds;

PerfModel model(const std::string& gpu, const std::string& name, int tp) {
  auto pm = PerfModel::lookup(gpu, name, tp);
  EXPECT_TRUE(pm.ok()) << pm.error().message;
  return *pm;
}

TEST(IterationBudget, IsTheLargestBlockWhoseIterationFitsTheTarget) {
  Rng rng(7);
  int interior = 0;
  for (const PerfKey& k : PerfModel::known_pairs()) {
    const PerfModel pm = model(k.gpu, k.model, k.tp);
    const Tokens ceiling = PerfModel::default_max_batched_tokens(k.gpu);
    for (int i = 0; i < 20; ++i) {
      const Duration tpot = milliseconds(rng.uniform_int(20, 300));
      const BudgetLoad load{Tokens(rng.uniform_int(16, 16000)), Tokens(rng.uniform_int(1, 1000)),
                            rng.uniform01() * 20};
      const int64_t m = slo_iteration_budget(pm, tpot, load, ceiling).value;
      ASSERT_EQ(m % kBudgetStep, 0) << m;
      ASSERT_GE(m, kMinBudget);
      ASSERT_LE(m, ceiling.value);
      const double limit = to_ms(tpot);
      if (m > kMinBudget) {
        EXPECT_LE(budget_iteration_ms(pm, tpot, load, m), limit) << k.gpu << " " << k.model;
      }
      if (m < ceiling.value) {
        EXPECT_GT(budget_iteration_ms(pm, tpot, load, m + kBudgetStep), limit)
            << k.gpu << " " << k.model << " m=" << m;
      }
      if (m > kMinBudget && m < ceiling.value) ++interior;
    }
  }
  EXPECT_GT(interior, 100);  // the bisection, not the clamps, decided most of them
}

TEST(IterationBudget, ShrinksAsTheTargetTightensOrTheLoadGrows) {
  const PerfModel pm = model("H100-80GB", "meta-llama/Llama-2-70b-hf", 4);
  const Tokens ceiling{8192};
  const BudgetLoad azure{Tokens(1155), Tokens(211), 3.35};
  int64_t last = ceiling.value + 1;
  for (int tpot : {400, 200, 150, 100, 80, 60}) {
    const int64_t m = slo_iteration_budget(pm, milliseconds(tpot), azure, ceiling).value;
    EXPECT_LE(m, last) << tpot;
    last = m;
  }
  EXPECT_LT(last, 8192);
  last = ceiling.value + 1;
  for (double rps : {0.0, 1.0, 3.0, 5.0, 8.0}) {
    BudgetLoad l = azure;
    l.rps = rps;
    const int64_t m = slo_iteration_budget(pm, milliseconds(100), l, ceiling).value;
    EXPECT_LE(m, last) << rps;
    last = m;
  }
}

TEST(IterationBudget, ALongPromptsDeepChunksCostMoreThanAShortOnes) {
  // The chunk is priced at the end of the prompt, where its attention covers the most context:
  // longer prompts leave a smaller budget for the same target.
  const PerfModel pm = model("H100-80GB", "meta-llama/Llama-2-7b-hf", 1);
  const int64_t short_prompts =
      slo_iteration_budget(pm, milliseconds(60), {Tokens(1000), Tokens(200), 0.5}, Tokens(8192))
          .value;
  const int64_t long_prompts =
      slo_iteration_budget(pm, milliseconds(60), {Tokens(12000), Tokens(200), 0.5}, Tokens(8192))
          .value;
  EXPECT_LT(long_prompts, short_prompts);
}

TEST(IterationBudget, ATargetNothingMeetsGetsTheSmallestBudgetAndALooseOneTheDefault) {
  const PerfModel pm = model("A100-80GB", "meta-llama/Llama-2-70b-hf", 4);
  EXPECT_EQ(
      slo_iteration_budget(pm, milliseconds(1), {Tokens(512), Tokens(128), 2}, Tokens(2048)).value,
      kMinBudget);
  EXPECT_EQ(slo_iteration_budget(pm, std::chrono::seconds(60), {Tokens(512), Tokens(128), 2},
                                 Tokens(2048))
                .value,
            2048);
}

}  // namespace
}  // namespace gf
