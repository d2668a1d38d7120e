// --synthetic's text: every kind with its keys and defaults, and errors that list what is known.
#include "sim/synthetic_spec.h"

#include <gtest/gtest.h>

namespace gf {
namespace {

using namespace std::chrono_literals;

TEST(SyntheticSpec, ParsesEveryKindWithItsKeysAndTheCommonOnes) {
  auto p = parse_synthetic_spec("poisson:rps=5,length=2m,prompt=512,output=64,sigma=0.5", 9);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(std::get<PoissonArrivals>(p->arrivals).rps, 5);
  EXPECT_EQ(p->length, 2min);
  EXPECT_EQ(p->seed, 9u);
  const auto& sizes = std::get<LognormalSizes>(p->sizes);
  EXPECT_EQ(sizes.prompt_mean, Tokens(512));
  EXPECT_EQ(sizes.output_mean, Tokens(64));
  EXPECT_EQ(sizes.prompt_sigma, 0.5);

  auto d = parse_synthetic_spec("diurnal:mean=4,amplitude=0.6,period=1h", 1);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(std::get<DiurnalArrivals>(d->arrivals).period, 1h);
  EXPECT_EQ(d->length, 10min);  // the default
  auto b = parse_synthetic_spec("burst:on=20,off=1,on_for=30s,off_for=90s", 1);
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(std::get<BurstArrivals>(b->arrivals).off, 90s);
  auto s = parse_synthetic_spec("step:before=1,after=8,at=5m", 1);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(std::get<StepArrivals>(s->arrivals).after_rps, 8);
  // And it generates.
  auto t = generate_trace(*s);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_GT(t->requests.size(), 100u);
}

TEST(SyntheticSpec, ErrorsNameTheProblemAndWhatIsKnown) {
  auto k = parse_synthetic_spec("poison:rps=5", 1);
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().message.find("unknown kind \"poison\" (known: burst, diurnal, poisson, step"),
            std::string::npos)
      << k.error().message;
  auto key = parse_synthetic_spec("poisson:rate=5", 1);
  ASSERT_FALSE(key);
  EXPECT_NE(key.error().message.find("unknown key \"rate\" (known: rps, length"), std::string::npos)
      << key.error().message;
  auto missing = parse_synthetic_spec("poisson:length=1m", 1);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("poisson needs rps="), std::string::npos)
      << missing.error().message;
  EXPECT_FALSE(parse_synthetic_spec("poisson:rps=fast", 1));
  EXPECT_FALSE(parse_synthetic_spec("step:before=1,after=2,at=soon", 1));
  EXPECT_FALSE(parse_synthetic_spec("poisson:rps", 1));
}

}  // namespace
}  // namespace gf
