#include "sim/trace_loader.h"

#include <gtest/gtest.h>

#include <sstream>

namespace gf {
namespace {

TEST(TraceFormat, NamesRoundTripAndUnknownNamesListTheKnownOnes) {
  for (TraceFormat f :
       {TraceFormat::kAuto, TraceFormat::kAzure, TraceFormat::kMooncake, TraceFormat::kBurstGpt})
    EXPECT_EQ(*parse_trace_format(to_string(f)), f);
  auto bad = parse_trace_format("sharegpt");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "unknown trace format \"sharegpt\": use auto, azure, mooncake or burstgpt");
}

TEST(SniffTraceFormat, TellsTheFormatFromTheFirstLine) {
  EXPECT_EQ(*sniff_trace_format("TIMESTAMP,ContextTokens,GeneratedTokens"), TraceFormat::kAzure);
  EXPECT_EQ(*sniff_trace_format("\xEF\xBB\xBFTIMESTAMP,ContextTokens,GeneratedTokens\r"),
            TraceFormat::kAzure);
  EXPECT_EQ(
      *sniff_trace_format("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type"),
      TraceFormat::kBurstGpt);
  EXPECT_EQ(*sniff_trace_format(R"({"timestamp": 0, "input_length": 1})"), TraceFormat::kMooncake);
  auto unknown = sniff_trace_format("time,prompt,completion");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("cannot tell the trace format from the first line "
                                         "\"time,prompt,completion\""),
            std::string::npos);
  EXPECT_NE(unknown.error().message.find("name the format"), std::string::npos);
}

TEST(ParseTrace, AutoReadsTheWholeStreamAfterSniffing) {
  std::istringstream in(
      "\n"
      "TIMESTAMP,ContextTokens,GeneratedTokens\n"
      "2023-11-16 18:15:46.0,10,1\n"
      "2023-11-16 18:15:47.0,20,2\n");
  auto t = parse_trace(in, "x.csv");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->trace.requests.size(), 2u);
}

TEST(ParseTrace, AnExplicitFormatIsTakenAsGiven) {
  std::istringstream in(R"({"timestamp": 0, "input_length": 1, "output_length": 1})");
  auto t = parse_trace(in, "x.jsonl", {.format = TraceFormat::kAzure});
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("x.jsonl:1: not an Azure LLM inference trace"),
            std::string::npos)
      << t.error().message;
}

TEST(ParseTrace, AnEmptyOrUnknownInputIsAnErrorNamingIt) {
  std::istringstream empty("\n\n");
  auto e = parse_trace(empty, "empty.csv");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message, "empty.csv: holds no request (it is empty)");

  std::istringstream unknown("a,b,c\n1,2,3\n");
  auto u = parse_trace(unknown, "odd.csv");
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().message.rfind("odd.csv: cannot tell the trace format", 0), 0u)
      << u.error().message;
}

TEST(LoadTrace, AMissingFileIsNamed) {
  auto t = load_trace("/nonexistent/trace.csv");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(t.error().message,
            "cannot open trace file /nonexistent/trace.csv: No such file or directory");
}

}  // namespace
}  // namespace gf
