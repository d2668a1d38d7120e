#include "sim/mooncake_jsonl.h"

#include <gtest/gtest.h>

#include <sstream>

namespace gf {
namespace {

using std::chrono::milliseconds;

Result<LoadedTrace> parse(const std::string& text, bool lenient = false) {
  std::istringstream in(text);
  return parse_mooncake_jsonl(in, "conv.jsonl", ParseOptions{.lenient = lenient});
}

TEST(MooncakeJsonl, ReadsMillisecondsTokensAndPrefixBlocks) {
  auto t =
      parse(R"({"timestamp": 0, "input_length": 6758, "output_length": 500, "hash_ids": [0, 1, 2]})"
            "\n"
            R"({"timestamp": 27, "input_length": 7322, "output_length": 490, "hash_ids": [0, 14]})"
            "\n\n"
            R"({"timestamp": 2500.5, "input_length": 10, "output_length": 1, "extra": "ignored"})"
            "\n");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->trace.name, "conv");
  const auto& r = t->trace.requests;
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].arrival, Duration::zero());
  EXPECT_EQ(r[1].arrival, milliseconds(27));
  EXPECT_EQ(r[2].arrival, Duration(2'500'500'000));
  EXPECT_EQ(r[0].prompt, Tokens(6758));
  EXPECT_EQ(r[0].output, Tokens(500));
  EXPECT_EQ(r[0].prefix_blocks, (std::vector<uint64_t>{0, 1, 2}));
  EXPECT_EQ(r[1].prefix_blocks, (std::vector<uint64_t>{0, 14}));
  EXPECT_TRUE(r[2].prefix_blocks.empty());  // a line without hash_ids has no blocks
}

TEST(MooncakeJsonl, BrokenJsonNamesLineAndColumn) {
  auto t = parse(R"({"timestamp": 0, "input_length": 1, "output_length": 1})"
                 "\n"
                 R"({"timestamp": 5, "input_length": 1 "output_length": 1})"
                 "\n");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message,
            "conv.jsonl:2: column 50: not valid JSON: syntax error while parsing object - "
            "unexpected string literal; expected '}' (a lenient load skips malformed lines)");
}

TEST(MooncakeJsonl, AWrongFieldIsNamed) {
  const auto message = [](const std::string& line) {
    auto t = parse(line + "\n");
    return t ? std::string("loaded") : t.error().message;
  };
  EXPECT_NE(message(R"({"input_length": 1, "output_length": 1})")
                .find("conv.jsonl:1: field timestamp: missing"),
            std::string::npos);
  EXPECT_NE(message(R"({"timestamp": -4, "input_length": 1, "output_length": 1})")
                .find("field timestamp: -4 ms is before the trace starts"),
            std::string::npos);
  EXPECT_NE(message(R"({"timestamp": "0", "input_length": 1, "output_length": 1})")
                .find("field timestamp: expected milliseconds, got \"0\""),
            std::string::npos);
  EXPECT_NE(message(R"({"timestamp": 0, "input_length": 0, "output_length": 1})")
                .find("field input_length: 0 tokens"),
            std::string::npos);
  EXPECT_NE(message(R"({"timestamp": 0, "input_length": 1.5, "output_length": 1})")
                .find("field input_length: expected a whole number of tokens, got 1.5"),
            std::string::npos);
  EXPECT_NE(message(R"({"timestamp": 0, "input_length": 1})").find("field output_length: missing"),
            std::string::npos);
  EXPECT_NE(
      message(R"({"timestamp": 0, "input_length": 1, "output_length": 1, "hash_ids": [1, -2]})")
          .find("field hash_ids[1]: expected a block id"),
      std::string::npos);
  EXPECT_NE(message(R"([1, 2, 3])").find("expected a JSON object per line"), std::string::npos);
}

TEST(MooncakeJsonl, LenientSkipsAndCountsBadLines) {
  auto t = parse(R"({"timestamp": 0, "input_length": 1, "output_length": 1})"
                 "\n"
                 "not json\n"
                 R"({"timestamp": 10, "input_length": 1, "output_length": 0})"
                 "\n"
                 R"({"timestamp": 20, "input_length": 2, "output_length": 2})"
                 "\n",
                 true);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->trace.requests.size(), 2u);
  EXPECT_EQ(t->skipped_lines, 2u);
  ASSERT_EQ(t->skipped_examples.size(), 2u);
  EXPECT_EQ(t->skipped_examples[0].rfind("conv.jsonl:2: column 2: not valid JSON: ", 0), 0u)
      << t->skipped_examples[0];
}

TEST(MooncakeJsonl, KeepsOnlyTheFirstFewSkippedProblems) {
  std::string text = R"({"timestamp": 0, "input_length": 1, "output_length": 1})"
                     "\n";
  for (int i = 0; i < 20; ++i)
    text += "{}\n";
  auto t = parse(text, true);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->skipped_lines, 20u);
  EXPECT_EQ(t->skipped_examples.size(), TraceBuilder::kSkippedExamples);
}

TEST(MooncakeJsonl, SortsOutOfOrderLinesKeepingTiesInFileOrder) {
  auto t = parse(R"({"timestamp": 50, "input_length": 1, "output_length": 1})"
                 "\n"
                 R"({"timestamp": 10, "input_length": 2, "output_length": 1})"
                 "\n"
                 R"({"timestamp": 10, "input_length": 3, "output_length": 1})"
                 "\n");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->sorted_on_load);
  const auto& r = t->trace.requests;
  EXPECT_EQ(r[0].prompt, Tokens(2));
  EXPECT_EQ(r[1].prompt, Tokens(3));
  EXPECT_EQ(r[2].prompt, Tokens(1));
  EXPECT_EQ(r[2].arrival, milliseconds(40));
}

}  // namespace
}  // namespace gf
