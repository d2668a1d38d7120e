#include "common/units.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/io/real_clock.h"

namespace gf {
namespace {

TEST(Units, ParsesBinaryAndDecimalMemorySizes) {
  EXPECT_EQ(parse_bytes("80GiB")->value, 80LL << 30);
  EXPECT_EQ(parse_bytes("80Gi")->value, 80LL << 30);
  EXPECT_EQ(parse_bytes("512MiB")->value, 512LL << 20);
  EXPECT_EQ(parse_bytes("1.5GiB")->value, 3LL << 29);
  EXPECT_EQ(parse_bytes("80GB")->value, 80'000'000'000LL);
  EXPECT_EQ(parse_bytes(" 1024 ")->value, 1024);
  EXPECT_EQ(to_mib_floor(*parse_bytes("80GiB")).value, 81920);
}

TEST(Units, RejectsBadMemorySizesWithAReadableMessage) {
  auto r = parse_bytes("80 GiBs");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("unknown unit \" GiBs\""), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(parse_bytes("").ok());
  EXPECT_FALSE(parse_bytes("-1GiB").ok());
  EXPECT_FALSE(parse_bytes("GiB").ok());
  EXPECT_NE(parse_bytes("99999999999TiB").error().message.find("too large"), std::string::npos);
}

TEST(Units, ParsesDurationsIncludingCompoundOnes) {
  EXPECT_EQ(*parse_duration("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(*parse_duration("2m"), std::chrono::minutes(2));
  EXPECT_EQ(*parse_duration("1.5s"), std::chrono::milliseconds(1500));
  EXPECT_EQ(*parse_duration("1h30m"), std::chrono::minutes(90));
  EXPECT_EQ(*parse_duration("250us"), std::chrono::microseconds(250));
  EXPECT_EQ(*parse_duration("10ns"), std::chrono::nanoseconds(10));
}

TEST(Units, DurationsNeedUnits) {
  auto r = parse_duration("500");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("missing unit"), std::string::npos);
  EXPECT_FALSE(parse_duration("5 parsecs").ok());
  EXPECT_FALSE(parse_duration("-1s").ok());
}

TEST(Units, ParsesTokensAndGpuShares) {
  EXPECT_EQ(parse_tokens("4096")->value, 4096);
  EXPECT_EQ(parse_tokens("4k")->value, 4000);
  EXPECT_EQ(parse_tokens("8Ki")->value, 8192);
  EXPECT_EQ(parse_milli_gpu("1")->value, 1000);
  EXPECT_EQ(parse_milli_gpu("0.25")->value, 250);
  EXPECT_EQ(parse_milli_gpu("250m")->value, 250);
  EXPECT_FALSE(parse_milli_gpu("1/4").ok());
}

TEST(Units, FormatsForPeople) {
  EXPECT_EQ(format_bytes(*parse_bytes("80GiB")), "80GiB");
  EXPECT_EQ(format_mib(MiB(40960)), "40GiB");
  EXPECT_EQ(format_mib(MiB(1536)), "1536MiB");  // exact beats pretty
  EXPECT_EQ(format_bytes(Bytes(1610612737)), "1.5GiB");
  EXPECT_EQ(format_duration(std::chrono::minutes(2)), "2m");
  EXPECT_EQ(format_duration(std::chrono::milliseconds(1500)), "1.5s");
  EXPECT_EQ(format_milli_gpu(MilliGpu(250)), "0.25 GPU");
}

TEST(Units, QuantitiesAddAndSubtractExactly) {
  // The float version of this loop is Ray's "0.9999999999999999/4.0 GPU" bug.
  MilliGpu total{0};
  for (int i = 0; i < 10; ++i)
    total += MilliGpu(100);
  EXPECT_EQ(total, kWholeGpu);
  for (int i = 0; i < 10; ++i)
    total -= MilliGpu(100);
  EXPECT_TRUE(total.is_zero());
}

TEST(Clock, ManualClockMovesOnlyWhenTold) {
  ManualClock clock;
  TimePoint t0 = clock.now();
  EXPECT_EQ(clock.now(), t0);
  clock.advance(std::chrono::seconds(3));
  EXPECT_EQ(clock.now() - t0, std::chrono::seconds(3));
  RealClock real;
  TimePoint a = real.now();
  TimePoint b = real.now();
  EXPECT_LE(a, b);
}

}  // namespace
}  // namespace gf
