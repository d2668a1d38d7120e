#include "sim/azure_csv.h"

#include <gtest/gtest.h>

#include <sstream>

namespace gf {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

Result<LoadedTrace> parse(const std::string& text, bool lenient = false) {
  std::istringstream in(text);
  return parse_azure_csv(in, "traces/sample.csv", ParseOptions{.lenient = lenient});
}

TEST(AzureTimestamp, KeepsAll7FractionalDigits) {
  auto a = parse_azure_timestamp("2023-11-16 18:15:46.6805900");
  auto b = parse_azure_timestamp("2023-11-16 18:15:46.6805901");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*b - *a, Duration(100));  // 100 ns apart, the traces' resolution
}

TEST(AzureTimestamp, CountsAcrossMidnightMonthsAndLeapDays) {
  auto before = parse_azure_timestamp("2024-02-28 23:59:59.5");
  auto after = parse_azure_timestamp("2024-03-01 00:00:00");
  ASSERT_TRUE(before && after);
  EXPECT_EQ(*after - *before, hours(24) + milliseconds(500));  // 2024 has a 29 February
  auto epoch = parse_azure_timestamp("1970-01-01 00:00:01");
  ASSERT_TRUE(epoch);
  EXPECT_EQ(*epoch, seconds(1));
}

TEST(AzureTimestamp, RejectsWhatIsNotADateAndTime) {
  for (const char* bad :
       {"2023-02-30 00:00:00", "2023-11-16 24:00:00", "2023-11-16", "16/11/2023 18:15:46",
        "2023-11-16 18:15:46.", "2023-11-16 18:15:46.12a", "2023-11-16 18:15:46.1234567890"}) {
    auto r = parse_azure_timestamp(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
  }
}

TEST(AzureCsv, ReadsRowsWithArrivalsFromTheFirstRow) {
  auto t = parse(
      "TIMESTAMP,ContextTokens,GeneratedTokens\n"
      "2023-11-16 18:15:46.6805900,374,44\n"
      "2023-11-16 18:15:50.9951690,396,109\r\n"
      "\n"
      "2023-11-16 18:16:00.0000000,879,20\n");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->trace.name, "sample");
  ASSERT_EQ(t->trace.requests.size(), 3u);
  const auto& r = t->trace.requests;
  EXPECT_EQ(r[0].arrival, Duration::zero());
  EXPECT_EQ(r[1].arrival, Duration(4'314'579'000));  // 50.9951690 - 46.6805900 s
  EXPECT_EQ(r[2].arrival, Duration(13'319'410'000));
  EXPECT_EQ(r[1].prompt, Tokens(396));
  EXPECT_EQ(r[1].output, Tokens(109));
  EXPECT_TRUE(r[0].prefix_blocks.empty());
  EXPECT_TRUE(r[0].model.empty());
  EXPECT_EQ(t->skipped_lines, 0u);
  EXPECT_FALSE(t->sorted_on_load);
}

TEST(AzureCsv, FindsColumnsByNameInAnyOrder) {
  auto t = parse(
      "GeneratedTokens,Extra,ContextTokens,TIMESTAMP\n"
      "44,x,374,2023-11-16 18:15:46.0\n");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->trace.requests[0].prompt, Tokens(374));
  EXPECT_EQ(t->trace.requests[0].output, Tokens(44));
}

TEST(AzureCsv, AMissingHeaderColumnNamesWhatIsThere) {
  auto t = parse("TIMESTAMP,Input,GeneratedTokens\n2023-11-16 18:15:46.0,1,1\n");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message,
            "traces/sample.csv:1: not an Azure LLM inference trace: the header lacks column "
            "\"ContextTokens\"; it has \"TIMESTAMP\", \"Input\", \"GeneratedTokens\"");
}

TEST(AzureCsv, AMalformedLineNamesFileLineAndColumn) {
  const std::string text =
      "TIMESTAMP,ContextTokens,GeneratedTokens\n"
      "2023-11-16 18:15:46.6805900,374,44\n"
      "2023-11-16 18:15:47.0,37a,44\n";
  auto t = parse(text);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(t.error().message,
            "traces/sample.csv:3: column 2 (ContextTokens): \"37a\" is not a whole number (a "
            "lenient load skips malformed lines)");

  auto fields = parse("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.0,1\n");
  ASSERT_FALSE(fields);
  EXPECT_NE(fields.error().message.find("sample.csv:2: expected 3 fields like the header, got 2"),
            std::string::npos)
      << fields.error().message;

  auto time = parse("TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,1,1\n");
  ASSERT_FALSE(time);
  EXPECT_NE(time.error().message.find("sample.csv:2: column 1 (TIMESTAMP): \"yesterday\""),
            std::string::npos)
      << time.error().message;
}

TEST(AzureCsv, ZeroTokensAreAnErrorOrSkippedWhenLenient) {
  const std::string text =
      "TIMESTAMP,ContextTokens,GeneratedTokens\n"
      "2023-11-16 18:15:46.0,374,44\n"
      "2023-11-16 18:15:47.0,374,0\n"
      "2023-11-16 18:15:48.0,-5,10\n"
      "2023-11-16 18:15:49.0,not,10\n"
      "2023-11-16 18:15:50.0,100,10\n";
  auto strict = parse(text);
  ASSERT_FALSE(strict);
  EXPECT_NE(strict.error().message.find(
                "sample.csv:3: column 3 (GeneratedTokens): 0 tokens: a request needs at least 1"),
            std::string::npos)
      << strict.error().message;

  auto lenient = parse(text, true);
  ASSERT_TRUE(lenient) << lenient.error().message;
  EXPECT_EQ(lenient->trace.requests.size(), 2u);
  EXPECT_EQ(lenient->skipped_lines, 3u);
  ASSERT_EQ(lenient->skipped_examples.size(), 3u);
  EXPECT_NE(lenient->skipped_examples[1].find("sample.csv:4: column 2 (ContextTokens): -5 tokens"),
            std::string::npos);
  EXPECT_NE(lenient->note().find("skipped 3 malformed lines"), std::string::npos)
      << lenient->note();
}

TEST(AzureCsv, SortsAnUnsortedFileStablyAndSaysSo) {
  auto t = parse(
      "TIMESTAMP,ContextTokens,GeneratedTokens\n"
      "2023-11-16 18:15:50.0,1,1\n"
      "2023-11-16 18:15:46.0,2,1\n"
      "2023-11-16 18:15:50.0,3,1\n");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_TRUE(t->sorted_on_load);
  const auto& r = t->trace.requests;
  EXPECT_EQ(r[0].prompt, Tokens(2));
  EXPECT_EQ(r[0].arrival, Duration::zero());  // the earliest row, not the first, starts the trace
  EXPECT_EQ(r[1].prompt, Tokens(1));
  EXPECT_EQ(r[2].prompt, Tokens(3));
  EXPECT_EQ(r[2].arrival, seconds(4));
  EXPECT_NE(t->note().find("not in arrival order"), std::string::npos);
}

TEST(AzureCsv, AHeaderOnlyFileHoldsNoRequest) {
  auto t = parse("TIMESTAMP,ContextTokens,GeneratedTokens\n");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message, "traces/sample.csv: holds no request");
  auto all_bad = parse("TIMESTAMP,ContextTokens,GeneratedTokens\nx,1,1\n", true);
  ASSERT_FALSE(all_bad);
  EXPECT_NE(all_bad.error().message.find("every data line (1) was malformed"), std::string::npos);
}

}  // namespace
}  // namespace gf
