#include "sim/burstgpt_csv.h"

#include <gtest/gtest.h>

#include <sstream>

namespace gf {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Result<LoadedTrace> parse(const std::string& text, bool lenient = false) {
  std::istringstream in(text);
  return parse_burstgpt_csv(in, "BurstGPT_1.csv", ParseOptions{.lenient = lenient});
}

// The layout of HPMLL/BurstGPT's data/BurstGPT_*.csv (release v1.1).
constexpr const char* kHeader =
    "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n";

TEST(BurstGptCsv, ReadsSecondsTokensAndModel) {
  auto t = parse(std::string(kHeader) +
                 "5,ChatGPT,472,18,490,Conversation log\n"
                 "45,ChatGPT,1087,230,1317,Conversation log\n"
                 "118.25,GPT-4,417,276,693,API log\n");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->trace.name, "BurstGPT_1");
  const auto& r = t->trace.requests;
  ASSERT_EQ(r.size(), 3u);
  // The trace starts at its first request (5 s into the collection).
  EXPECT_EQ(r[0].arrival, Duration::zero());
  EXPECT_EQ(r[1].arrival, seconds(40));
  EXPECT_EQ(r[2].arrival, seconds(113) + milliseconds(250));
  EXPECT_EQ(r[0].prompt, Tokens(472));
  EXPECT_EQ(r[0].output, Tokens(18));
  EXPECT_EQ(r[0].model, "ChatGPT");
  EXPECT_EQ(r[2].model, "GPT-4");
  EXPECT_TRUE(r[2].tenant.empty());
}

TEST(BurstGptCsv, ModelColumnMayBeAbsent) {
  auto t = parse("Timestamp,Request tokens,Response tokens\n1,10,20\n");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_TRUE(t->trace.requests[0].model.empty());
}

TEST(BurstGptCsv, FailedRequestsWithZeroResponseTokensNeedLenient) {
  const std::string text = std::string(kHeader) +
                           "5,ChatGPT,472,18,490,Conversation log\n"
                           "6,ChatGPT,300,0,300,Conversation log\n"
                           "7,GPT-4,\"1,000\",5,1005,API log\n"
                           "9,GPT-4,100,5,105,API log\n";
  auto strict = parse(text);
  ASSERT_FALSE(strict);
  EXPECT_NE(strict.error().message.find(
                "BurstGPT_1.csv:3: column 4 (Response tokens): 0 tokens: a request needs"),
            std::string::npos)
      << strict.error().message;

  auto lenient = parse(text, true);
  ASSERT_TRUE(lenient) << lenient.error().message;
  EXPECT_EQ(lenient->trace.requests.size(), 2u);
  EXPECT_EQ(lenient->skipped_lines, 2u);
  // A quoted "1,000" is one field, and not a whole number.
  EXPECT_NE(lenient->skipped_examples[1].find(
                "BurstGPT_1.csv:4: column 3 (Request tokens): \"1,000\" is not a whole number"),
            std::string::npos)
      << lenient->skipped_examples[1];
}

TEST(BurstGptCsv, ABadTimestampIsNamed) {
  auto t = parse(std::string(kHeader) + "-3,ChatGPT,1,1,2,API log\n");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("BurstGPT_1.csv:2: column 1 (Timestamp): \"-3\" is not a time "
                                   "in seconds"),
            std::string::npos)
      << t.error().message;
}

TEST(BurstGptCsv, AnAzureFileIsNotABurstGptFile) {
  auto t = parse("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.0,1,1\n");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("BurstGPT_1.csv:1: not a BurstGPT trace: the header lacks "
                                   "column \"Timestamp\", \"Request tokens\", \"Response tokens\""),
            std::string::npos)
      << t.error().message;
}

}  // namespace
}  // namespace gf
