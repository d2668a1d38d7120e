// The gateway's one parse of an OpenAI body: the fields routing and admission need, and 400s that
// say what was wrong.
#include "gateway/request_info.h"

#include <gtest/gtest.h>

namespace gf {
namespace {

TEST(RequestInfo, ChatReadsModelStreamUserMaxTokensAndPrompt) {
  auto r = parse_request_info(
      R"({"model":"llama","stream":true,"user":"u1","max_tokens":64,
          "messages":[{"role":"system","content":"You are terse."},
                      {"role":"user","content":[{"type":"text","text":"Hello"}]}]})",
      "chat", 1024);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "llama");
  EXPECT_TRUE(r->stream);
  EXPECT_EQ(r->user, "u1");
  EXPECT_EQ(r->max_tokens, 64);
  EXPECT_EQ(r->prompt_prefix, "You are terse.Hello");
  EXPECT_EQ(r->prompt_bytes, 19u);
}

TEST(RequestInfo, PrefixIsCappedButTheSizeCountsEverything) {
  auto r = parse_request_info(R"({"model":"m","prompt":["abcdef","ghij"]})", "completions", 4);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->prompt_prefix, "abcd");
  EXPECT_EQ(r->prompt_bytes, 10u);
  EXPECT_FALSE(r->stream);
  EXPECT_FALSE(r->max_tokens.has_value());
  auto e = parse_request_info(R"({"model":"m","input":"text","max_completion_tokens":3})",
                              "embeddings", 64);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->prompt_prefix, "text");
  EXPECT_EQ(e->max_tokens, 3);
}

TEST(RequestInfo, NullMeansUnset) {
  auto r = parse_request_info(R"({"user":null,"model":"a","stream":null,"max_tokens":null,)"
                              R"("prompt":"p","max_completion_tokens":7})",
                              "completions", 64);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "a");
  EXPECT_FALSE(r->stream);
  EXPECT_EQ(r->user, "");
  EXPECT_EQ(r->max_tokens, 7);
  EXPECT_EQ(r->prompt_prefix, "p");
}

// The gateway read the first "model" and engine-sim the last: a repeated key the gateway reads
// is refused, so both cannot see two different requests (#17, item 11).
TEST(RequestInfo, AFieldTheGatewayReadsMayNotBeRepeated) {
  for (const char* body :
       {R"({"model":"a","prompt":"p","model":"b"})", R"({"model":"a","prompt":"p","prompt":"q"})",
        R"({"model":"a","prompt":"p","stream":true,"stream":false})"}) {
    auto r = parse_request_info(body, "completions", 64);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_NE(r.error().message.find("is given more than once"), std::string::npos)
        << r.error().message;
  }
  // Other keys are the engine's business.
  EXPECT_TRUE(
      parse_request_info(R"({"model":"a","prompt":"p","seed":1,"seed":2})", "completions", 64)
          .ok());
}

TEST(RequestInfo, BadBodiesSayWhatIsWrong) {
  auto expect_error = [](std::string_view body, std::string_view endpoint, std::string what) {
    auto r = parse_request_info(body, endpoint, 64);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
  };
  expect_error("{", "chat", "not valid JSON");
  expect_error("[1]", "chat", "must be a JSON object");
  expect_error(R"({"messages":[]})", "chat", "'model'");
  expect_error(R"({"model":5,"messages":[]})", "chat", "'model' must be a string");
  expect_error(R"({"model":"m"})", "chat", "'messages'");
  expect_error(R"({"model":"m","messages":[1]})", "chat", "must be an object");
  expect_error(R"({"model":"m","messages":[],"stream":"yes"})", "chat", "'stream'");
  expect_error(R"({"model":"m","messages":[],"max_tokens":-1})", "chat", "'max_tokens'");
  expect_error(R"({"model":"m"})", "completions", "'prompt'");
  expect_error(R"({"model":"m"})", "embeddings", "'input'");
  // Checked in a fixed order, whatever the order of the keys.
  expect_error(R"({"stream":1,"messages":[]})", "chat", "'model'");
  expect_error(R"({"max_tokens":"x","stream":1,"model":"m"})", "chat", "'stream'");
  expect_error(R"({"messages":7,"max_completion_tokens":-2,"model":"m"})", "chat",
               "'max_completion_tokens'");
}

// With slack past the body, simdjson parses in place and reads into it: whatever those bytes
// hold (here quotes, backslashes and a closing brace, as a previous body could leave them), the
// result is the one a padded copy gives.
TEST(RequestInfo, InPlaceParseIgnoresWhatFollowsTheBody) {
  const std::string bodies[] = {
      R"({"model":"m","messages":[{"role":"user","content":"hi \"there\""}],"max_tokens":3})",
      R"({"model":"m","prompt":"abc","stream":true,"user":"u"})",
      R"({"model":"m","prompt":"unterminated)",
      R"({"model":"m","prompt":"x"} trailing)",
  };
  for (const std::string& body : bodies) {
    std::string buf = body + std::string(64, '"') + "\\}";
    const std::string_view in_place(buf.data(), body.size());
    auto a = parse_request_info(body, "completions", 64);
    auto b = parse_request_info(in_place, "completions", 64, buf.size() - body.size());
    ASSERT_EQ(a.ok(), b.ok()) << body;
    if (!a.ok()) {
      EXPECT_EQ(a.error().message, b.error().message);
      continue;
    }
    EXPECT_EQ(a->model, b->model);
    EXPECT_EQ(a->stream, b->stream);
    EXPECT_EQ(a->user, b->user);
    EXPECT_EQ(a->max_tokens, b->max_tokens);
    EXPECT_EQ(a->prompt_prefix, b->prompt_prefix);
    EXPECT_EQ(a->prompt_bytes, b->prompt_bytes);
  }
}

}  // namespace
}  // namespace gf
