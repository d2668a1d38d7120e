#include "gateway/token_usage.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace gf {
namespace {

std::string chunk(const std::string& delta_json) {
  return "data: {\"id\":\"c-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
         "\"delta\":" +
         delta_json + ",\"finish_reason\":null}]}\n\n";
}

// vLLM's shape: a role chunk with empty content, one chunk per token, a finish chunk with empty
// content, an optional usage chunk, then [DONE].
std::string vllm_stream(int tokens, bool include_usage) {
  std::string s = chunk(R"({"role":"assistant","content":""})");
  for (int i = 0; i < tokens; ++i)
    s += chunk(R"({"content":"w)" + std::to_string(i) + "\"}");
  s += chunk(R"({"content":""})");
  if (include_usage)
    s += "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":17,\"completion_tokens\":" +
         std::to_string(tokens) + ",\"total_tokens\":" + std::to_string(17 + tokens) + "}}\n\n";
  return s + "data: [DONE]\n\n";
}

TEST(TokenUsage, NonStreamedBodyReportsItsUsage) {
  auto u = parse_usage(
      R"({"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":5,"completion_tokens":9}})");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->completion_tokens, 9);
  EXPECT_EQ(u->prompt_tokens, 5);
  EXPECT_TRUE(u->reported);
  EXPECT_FALSE(parse_usage(R"({"choices":[]})"));
  // Keys inside a string are escaped, so they are not mistaken for the usage object's.
  auto tricky = parse_usage(
      R"({"usage": {"prompt_tokens": 3, "completion_tokens": 4}, "choices":[{"message":)"
      R"({"content":"\"completion_tokens\": 99, \"usage\": {}"}}]})");
  ASSERT_TRUE(tricky);
  EXPECT_EQ(tricky->completion_tokens, 4);
  EXPECT_EQ(tricky->prompt_tokens, 3);
  EXPECT_FALSE(parse_usage("not json"));
  EXPECT_FALSE(parse_usage(R"({"usage":null})"));
}

// The keys are searched by the letter after their quote: a longer key ending in the same name, or
// the name without its quotes, is not theirs.
TEST(TokenUsage, OnlyWholeQuotedKeysCount) {
  auto u = parse_usage(
      R"({"usage":{"prompt_tokens":1,"completion_tokens":2},"x":"a usage","y":{"myusage":)"
      R"({"xcompletion_tokens":70,"prompt_tokens_x":80,"completion_tokens":5,"prompt_tokens":6}}})");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->completion_tokens, 2);
  EXPECT_EQ(u->prompt_tokens, 1);
  auto last =
      parse_usage(R"({"usage":{"completion_tokens":1},"choices":[],"usage" : {"xprompt_tokens":9,)"
                  R"("completion_tokens": 3}})");
  ASSERT_TRUE(last);
  EXPECT_EQ(last->completion_tokens, 3);
  EXPECT_FALSE(last->prompt_tokens);
  EXPECT_FALSE(parse_usage(R"({"choices":[{"text":"usage"}]})"));
  EXPECT_FALSE(parse_usage(""));
}

TEST(TokenUsage, StreamCountsChunksThatCarryText) {
  StreamTokenCounter c;
  c.feed(vllm_stream(12, false));
  TokenUsage u = c.usage();
  EXPECT_EQ(u.completion_tokens, 12);
  EXPECT_FALSE(u.reported);
  EXPECT_FALSE(u.prompt_tokens);
}

TEST(TokenUsage, StreamPrefersTheReplicasUsageChunk) {
  StreamTokenCounter c;
  c.feed(vllm_stream(7, true));
  TokenUsage u = c.usage();
  EXPECT_EQ(u.completion_tokens, 7);
  EXPECT_TRUE(u.reported);
  EXPECT_EQ(u.prompt_tokens, 17);
}

TEST(TokenUsage, CompletionsStreamCountsText) {
  StreamTokenCounter c;
  c.feed(
      "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {\"choices\":[{\"text\": \"b\"}]}\n\n"
      "data: {\"choices\":[{\"text\":\"\",\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
  EXPECT_EQ(c.usage().completion_tokens, 2);
}

// Property: however the stream is cut into pieces (as TCP reads cut it), the count is the same.
TEST(TokenUsage, AnySplitOfTheStreamGivesTheSameCount) {
  std::mt19937 rng(42);
  for (int round = 0; round < 200; ++round) {
    const int tokens = static_cast<int>(rng() % 40);
    const bool usage = rng() % 2 == 0;
    const std::string s = vllm_stream(tokens, usage);
    StreamTokenCounter c;
    size_t at = 0;
    while (at < s.size()) {
      size_t n = 1 + rng() % 64;
      c.feed(std::string_view(s).substr(at, n));
      at += n;
    }
    TokenUsage u = c.usage();
    ASSERT_EQ(u.completion_tokens, tokens) << "round " << round;
    ASSERT_EQ(u.reported, usage) << "round " << round;
  }
}

TEST(TokenUsage, AnOverlongLineIsSkippedWithoutLosingTheNextOnes) {
  StreamTokenCounter c;
  c.feed("data: {\"choices\":[{\"text\":\"");
  c.feed(std::string(100 << 10, 'x'));
  c.feed("\"}]}\n\n");
  c.feed("data: {\"choices\":[{\"text\":\"a\"}]}\n\n");
  EXPECT_EQ(c.usage().completion_tokens, 1);
}

}  // namespace
}  // namespace gf
