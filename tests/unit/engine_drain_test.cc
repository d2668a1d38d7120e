// The drain of a replica on its agent: reading an engine's load from its Prometheus text, and the
// pure verdict "stop now" or "wait", with a manual clock.
#include "agent/engine_drain.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace gf {
namespace {

using namespace std::chrono_literals;

const EngineMetricNames kVllm{"vllm:num_requests_running", "vllm:num_requests_waiting",
                              "vllm:kv_cache_usage_perc", ""};

TEST(EngineLoad, SumsEachMetricOverItsLabelSets) {
  const std::string text =
      "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
      "# TYPE vllm:num_requests_running gauge\n"
      "vllm:num_requests_running{model_name=\"a\"} 2\n"
      "vllm:num_requests_running{model_name=\"b{}\"} 1\n"
      "vllm:num_requests_running_other 40\n"
      "vllm:num_requests_waiting{model_name=\"a\"} 3 1700000000\n";
  auto load = parse_engine_load(text, kVllm);
  ASSERT_TRUE(load.has_value());
  EXPECT_EQ(load->running, 3);
  EXPECT_EQ(load->waiting, 3);
  EXPECT_EQ(load->in_flight(), 6);
  auto bare = parse_engine_load("vllm:num_requests_running 0\n", kVllm);
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->in_flight(), 0);  // no waiting metric: zero, the batch is what counts
}

TEST(EngineLoad, UnknownWhenTheRunningMetricIsMissingOrUnnamed) {
  EXPECT_FALSE(parse_engine_load("vllm:num_requests_waiting 0\n", kVllm).has_value());
  EXPECT_FALSE(parse_engine_load("vllm:num_requests_running NaN\n", kVllm).has_value());
  EXPECT_FALSE(parse_engine_load("", kVllm).has_value());
  EXPECT_FALSE(parse_engine_load("x 0\n", EngineMetricNames{}).has_value());
}

class EngineDrainTest : public ::testing::Test {
 protected:
  ManualClock clock;
  TimePoint t0 = clock.now();
  EngineDrain drain{t0, 30s, 1s};
};

TEST_F(EngineDrainTest, StopsOnceIdleAfterRoutesSettled) {
  DrainVerdict v = drain.decide(clock.now());
  EXPECT_FALSE(v.stop);
  EXPECT_EQ(v.wait_until, t0 + 30s);
  EXPECT_EQ(v.reason, "draining: waiting for the engine's load");

  drain.observe(EngineLoad{2, 1}, t0 + 200ms);
  clock.advance(1s);
  v = drain.decide(clock.now());
  EXPECT_FALSE(v.stop);
  EXPECT_EQ(v.reason, "draining: 2 running, 1 waiting");

  // Idle, but read before the routes settled: a request may still be on its way.
  drain.observe(EngineLoad{0, 0}, t0 + 100ms);  // older than what is held: ignored
  EXPECT_EQ(drain.last_load()->running, 2);
  drain.observe(EngineLoad{0, 0}, t0 + 900ms);
  EXPECT_FALSE(drain.decide(clock.now()).stop);
  EXPECT_EQ(drain.decide(clock.now()).reason, "draining: idle, waiting for routes to settle");

  drain.observe(EngineLoad{0, 0}, t0 + 1s);
  v = drain.decide(clock.now());
  EXPECT_TRUE(v.stop);
  EXPECT_EQ(v.reason, "no request in flight");
}

TEST_F(EngineDrainTest, StopsAtTheTimeoutWithWorkLeftOrLoadUnknown) {
  drain.observe(EngineLoad{4, 0}, t0 + 5s);
  clock.advance(30s - 1ms);
  EXPECT_FALSE(drain.decide(clock.now()).stop);
  clock.advance(1ms);
  DrainVerdict v = drain.decide(clock.now());
  EXPECT_TRUE(v.stop);
  EXPECT_EQ(v.reason, "drain timeout (30s) passed with 4 requests still in flight");

  EngineDrain blind(t0, 30s);
  v = blind.decide(t0 + 30s);
  EXPECT_TRUE(v.stop);
  EXPECT_EQ(v.reason, "drain timeout (30s) passed with its load unknown");
}

TEST_F(EngineDrainTest, AZeroTimeoutStopsAtOnce) {
  EngineDrain now(t0, 0s);
  EXPECT_TRUE(now.decide(t0).stop);
}

}  // namespace
}  // namespace gf
