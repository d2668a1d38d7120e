#include "sim/trace_options.h"

#include <gtest/gtest.h>

#include <map>

namespace gf {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// One request per second from 0 to n-1 s, prompts 1..n so order is visible.
Trace every_second(int n) {
  Trace t;
  t.name = "steady";
  for (int i = 0; i < n; ++i) {
    TraceRequest r;
    r.arrival = seconds(i);
    r.prompt = Tokens(i + 1);
    r.output = Tokens(1);
    r.model = "trace-model";
    t.requests.push_back(r);
  }
  return t;
}

std::map<std::string, int> count_models(const Trace& t) {
  std::map<std::string, int> n;
  for (const auto& r : t.requests)
    ++n[r.model];
  return n;
}

TEST(TraceOptions, NoOptionsChangeNothing) {
  auto t = apply_trace_options(every_second(10), {});
  ASSERT_TRUE(t);
  ASSERT_EQ(t->requests.size(), 10u);
  EXPECT_EQ(t->requests[3].arrival, seconds(3));
  EXPECT_EQ(t->requests[3].model, "trace-model");
}

TEST(TraceOptions, AWindowKeepsItsRequestsCountedFromItsStart) {
  TraceOptions o;
  o.start = milliseconds(2500);
  o.length = seconds(3);
  auto t = apply_trace_options(every_second(10), o);
  ASSERT_TRUE(t) << t.error().message;
  // [2.5 s, 5.5 s) holds the requests at 3, 4 and 5 s.
  ASSERT_EQ(t->requests.size(), 3u);
  EXPECT_EQ(t->requests[0].prompt, Tokens(4));
  EXPECT_EQ(t->requests[0].arrival, milliseconds(500));  // a quiet opening stays quiet
  EXPECT_EQ(t->requests[2].arrival, milliseconds(2500));

  TraceOptions open_ended;
  open_ended.start = seconds(8);
  auto tail = apply_trace_options(every_second(10), open_ended);
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->requests.size(), 2u);
}

TEST(TraceOptions, AnEmptyWindowSaysWhereTheTraceIs) {
  TraceOptions o;
  o.start = std::chrono::hours(2);
  o.length = std::chrono::minutes(10);
  auto t = apply_trace_options(every_second(120), o);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message,
            "the window from 2h for 10m holds no request of steady, whose requests arrive from 0 "
            "to 2.0 min");
}

TEST(TraceOptions, RateScaleDividesArrivalsKeepingOrderAndRequests) {
  TraceOptions faster;
  faster.rate_scale = 2;
  auto fast = apply_trace_options(every_second(121), faster);
  ASSERT_TRUE(fast);
  ASSERT_EQ(fast->requests.size(), 121u);
  EXPECT_EQ(fast->requests[1].arrival, milliseconds(500));
  EXPECT_EQ(fast->requests[120].arrival, seconds(60));
  EXPECT_EQ(summarize(*fast).duration, seconds(60));
  EXPECT_EQ(fast->requests[7].prompt, Tokens(8));

  TraceOptions slower;
  slower.rate_scale = 0.5;
  auto slow = apply_trace_options(every_second(121), slower);
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->requests[1].arrival, seconds(2));
  // 1 rps over 2 min becomes 0.5 rps over 4 min: rates scale by k.
  EXPECT_DOUBLE_EQ(summarize(*slow).mean_rps, 0.5);
  EXPECT_DOUBLE_EQ(summarize(*fast).mean_rps, 2.0);
}

TEST(TraceOptions, WindowIsCutBeforeScaling) {
  TraceOptions o;
  o.start = seconds(10);
  o.length = seconds(10);
  o.rate_scale = 10;
  auto t = apply_trace_options(every_second(100), o);
  ASSERT_TRUE(t);
  ASSERT_EQ(t->requests.size(), 10u);  // the requests at 10..19 s of the trace
  EXPECT_EQ(t->requests[0].prompt, Tokens(11));
  EXPECT_EQ(t->requests[9].arrival, milliseconds(900));
}

TEST(TraceOptions, InvalidOptionsAreNamed) {
  TraceOptions zero;
  zero.rate_scale = 0;
  EXPECT_EQ(apply_trace_options(every_second(3), zero).error().message,
            "rate scale 0: must be a positive number (2 replays twice as fast)");
  TraceOptions negative;
  negative.start = seconds(-1);
  EXPECT_FALSE(apply_trace_options(every_second(3), negative));
  TraceOptions empty_length;
  empty_length.length = Duration::zero();
  EXPECT_FALSE(apply_trace_options(every_second(3), empty_length));
  TraceOptions bad_weight;
  bad_weight.models = {{"a", 1}, {"b", -2}};
  EXPECT_EQ(apply_trace_options(every_second(3), bad_weight).error().message,
            "models: b has weight -2; weights must be positive numbers");
}

TEST(TraceOptions, RandomMappingFollowsTheWeightsAndTheSeed) {
  TraceOptions o;
  o.models = {{"llama-70b", 3}, {"qwen-7b", 1}};
  o.seed = 42;
  auto t = apply_trace_options(every_second(20000), o);
  ASSERT_TRUE(t);
  const auto n = count_models(*t);
  ASSERT_EQ(n.size(), 2u);  // the trace's own model is replaced everywhere
  // 15,000 expected, binomial sd ~61: 4 sd either way.
  EXPECT_NEAR(n.at("llama-70b"), 15000, 250);

  auto again = apply_trace_options(every_second(20000), o);
  for (size_t i = 0; i < t->requests.size(); ++i)
    ASSERT_EQ(t->requests[i].model, again->requests[i].model) << i;

  o.seed = 43;
  auto other = apply_trace_options(every_second(20000), o);
  int differ = 0;
  for (size_t i = 0; i < t->requests.size(); ++i)
    differ += t->requests[i].model != other->requests[i].model;
  EXPECT_GT(differ, 1000);
}

TEST(TraceOptions, TenantsDrawApartFromModels) {
  TraceOptions models_only;
  models_only.models = {{"a", 1}, {"b", 1}};
  TraceOptions both = models_only;
  both.tenants = {{"team-x", 1}, {"team-y", 2}};
  auto one = apply_trace_options(every_second(500), models_only);
  auto two = apply_trace_options(every_second(500), both);
  ASSERT_TRUE(one && two);
  for (size_t i = 0; i < one->requests.size(); ++i) {
    ASSERT_EQ(one->requests[i].model, two->requests[i].model) << i;
    EXPECT_TRUE(one->requests[i].tenant.empty());
    EXPECT_FALSE(two->requests[i].tenant.empty());
  }
}

TEST(TraceOptions, InterleaveHoldsEveryShareInEveryPrefix) {
  TraceOptions o;
  o.models = {{"a", 2}, {"b", 1}};
  o.mapping = NameMapping::kInterleave;
  auto t = apply_trace_options(every_second(9), o);
  ASSERT_TRUE(t);
  std::string order;
  for (const auto& r : t->requests)
    order += r.model;
  EXPECT_EQ(order, "abaabaaba");
}

TEST(ParseWeightedNames, ReadsNamesWithAndWithoutWeights) {
  auto w = parse_weighted_names("llama-70b=3, qwen-7b=0.5,mistral");
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_EQ(w->size(), 3u);
  EXPECT_EQ((*w)[0].name, "llama-70b");
  EXPECT_EQ((*w)[0].weight, 3.0);
  EXPECT_EQ((*w)[1].weight, 0.5);
  EXPECT_EQ((*w)[2].name, "mistral");
  EXPECT_EQ((*w)[2].weight, 1.0);
}

TEST(ParseWeightedNames, SaysWhichEntryIsWrong) {
  EXPECT_EQ(parse_weighted_names("a=x").error().message,
            "\"a=x\": the weight of a is not a number");
  EXPECT_EQ(parse_weighted_names("a,,b").error().message,
            "\"a,,b\": an empty entry; write name=weight,name=weight");
  EXPECT_EQ(parse_weighted_names("a=1,a=2").error().message, "names: a is listed twice");
  EXPECT_EQ(parse_weighted_names("a=0").error().message,
            "names: a has weight 0; weights must be positive numbers");
  EXPECT_EQ(parse_weighted_names("=2").error().message, "names: an entry has no name");
}

}  // namespace
}  // namespace gf
