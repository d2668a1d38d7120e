// token_rates: the throughput model the work metric and the dynamo-sla baseline size with. Its
// bisection must find what a scan of every batch size (the planner's own way) finds.
#include "perfmodel/token_rates.h"

#include <gtest/gtest.h>

#include "common/rng.h"

namespace gf {
namespace {

// The planner's scan: every batch from 1, up to the first whose iteration misses the target.
double scanned_decode_tps(const PerfModel& pm, double prompt, double output, double itl_ms) {
  const double ctx = prompt + output / 2;
  double best = 0;
  for (int b = 1; b <= PerfModel::kMaxBatch; ++b) {
    const double it = to_ms(pm.decode_iteration_time(b, Tokens(static_cast<int64_t>(b * ctx))));
    if (it <= 0) continue;
    if (it > itl_ms && b > 1) break;
    best = std::max(best, b / (it / 1000));
  }
  return best;
}

TEST(TokenRates, DecodeRateIsTheBestBatchWithinTheTargetAsAScanFindsIt) {
  Rng rng(11);
  int capped = 0, one = 0, interior = 0;
  for (const PerfKey& k : PerfModel::known_pairs()) {
    auto pm = PerfModel::lookup(k.gpu, k.model, k.tp);
    ASSERT_TRUE(pm.ok()) << pm.error().message;
    for (int i = 0; i < 40; ++i) {
      const auto prompt = static_cast<double>(rng.uniform_int(1, 32000));
      const auto output = static_cast<double>(rng.uniform_int(1, 2000));
      const auto itl = static_cast<double>(rng.uniform_int(5, 400));
      const TokenRates r = token_rates(*pm, prompt, output, FractionalMs(itl));
      const double scanned = scanned_decode_tps(*pm, prompt, output, itl);
      ASSERT_NEAR(r.decode_tps, scanned, scanned * 1e-9)
          << k.gpu << " " << k.model << " " << prompt << "/" << output << " " << itl;
      const double ctx = prompt + output / 2;
      const auto it = [&](int b) {
        return to_ms(pm->decode_iteration_time(b, Tokens(static_cast<int64_t>(b * ctx))));
      };
      if (it(PerfModel::kMaxBatch) <= itl) {
        ++capped;
      } else if (it(2) > itl) {
        ++one;
      } else {
        ++interior;
      }
      // Prefill: the prompt over the profile's time for it.
      EXPECT_DOUBLE_EQ(
          r.prefill_tps,
          prompt / (to_ms(pm->prefill_time(Tokens(static_cast<int64_t>(prompt)))) / 1000));
    }
  }
  // The draws reach all three cases: the cap, a batch of one, and a batch in between.
  EXPECT_GT(capped, 0);
  EXPECT_GT(one, 0);
  EXPECT_GT(interior, 0);
}

TEST(TokenRates, ReplicasAddThePrefillAndDecodeShares) {
  const TokenRates r{1000, 400};
  EXPECT_DOUBLE_EQ(r.replicas(0, 0), 0);
  EXPECT_DOUBLE_EQ(r.replicas(500, 0), 0.5);
  EXPECT_DOUBLE_EQ(r.replicas(500, 200), 1.0);
  EXPECT_DOUBLE_EQ(TokenRates{}.replicas(500, 200), 0);  // no rates: nothing to weigh
}

TEST(TokenRates, LongerPromptsTakeMoreOfAReplicaPerRequest) {
  auto pm = PerfModel::lookup("H100-80GB", "meta-llama/Llama-2-70b-hf", 4);
  ASSERT_TRUE(pm.ok()) << pm.error().message;
  // One request a second of each size: the work follows the size, not the count.
  double last = 0;
  for (double prompt : {128.0, 1024.0, 4096.0, 16000.0}) {
    const double work =
        token_rates(*pm, prompt, 200, std::chrono::milliseconds(100)).replicas(prompt, 200);
    EXPECT_GT(work, last) << prompt;
    last = work;
  }
}

}  // namespace
}  // namespace gf
