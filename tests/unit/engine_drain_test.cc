// The drain of a replica on its agent: reading an engine's load from its Prometheus text (under
// each adapter's names: requests, KV-cache usage, token counters), and the pure verdict "stop now"
// or "wait", with a manual clock.
#include "agent/engine_drain.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/traffic_report.h"

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

EngineMetricNames names_of(EngineType type) {
  DeploymentSpec d;
  d.name = "x";
  d.model = "m";
  d.engine.type = type;
  d.resources.gpus = 1;
  ReplicaLaunch l;
  l.deployment = &d;
  l.gpu_uuids = {"GPU-a"};
  l.port = 31000;
  auto spec = build_process(l);
  EXPECT_TRUE(spec.ok()) << spec.error().message;
  return spec.ok() ? spec->metrics : EngineMetricNames{};
}

// What engine-sim serves (vLLM's names, both KV-usage gauges), cut down.
const char* kEngineSimText =
    "vllm:num_requests_running{model_name=\"m\"} 3\n"
    "vllm:num_requests_waiting{model_name=\"m\"} 2\n"
    "vllm:kv_cache_usage_perc{model_name=\"m\"} 0.25\n"
    "vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.25\n"
    "vllm:prompt_tokens_total{model_name=\"m\"} 1200\n"
    "vllm:generation_tokens_total{model_name=\"m\"} 800\n";

TEST(EngineLoad, ReadsKvUsageAndTokenCountersUnderEachEnginesNames) {
  auto sim = parse_engine_load(kEngineSimText, names_of(EngineType::kEngineSim));
  ASSERT_TRUE(sim.has_value());
  EXPECT_EQ(sim->running, 3);
  EXPECT_EQ(sim->waiting, 2);
  EXPECT_EQ(sim->kv_cache_usage, 0.25);  // both names served: counted once
  EXPECT_EQ(sim->prompt_tokens, 1200);
  EXPECT_EQ(sim->generation_tokens, 800);

  // An older vLLM has only the older KV name.
  auto old = parse_engine_load("vllm:num_requests_running 1\nvllm:gpu_cache_usage_perc 0.5\n",
                               names_of(EngineType::kVllm));
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->kv_cache_usage, 0.5);
  EXPECT_FALSE(old->prompt_tokens.has_value());  // not served: unknown, not zero

  auto sglang = parse_engine_load(
      "sglang:num_running_reqs{model_name=\"m\"} 4\nsglang:num_queue_reqs{model_name=\"m\"} 7\n"
      "sglang:token_usage{model_name=\"m\"} 0.8\nsglang:prompt_tokens_total{model_name=\"m\"} 10\n"
      "sglang:generation_tokens_total{model_name=\"m\"} 20\n",
      names_of(EngineType::kSglang));
  ASSERT_TRUE(sglang.has_value());
  EXPECT_EQ(sglang->running, 4);
  EXPECT_EQ(sglang->waiting, 7);
  EXPECT_EQ(sglang->kv_cache_usage, 0.8);
  EXPECT_EQ(sglang->prompt_tokens, 10);
  EXPECT_EQ(sglang->generation_tokens, 20);
}

TEST(EngineLoad, KvUsageIsTheMeanOverLabelSets) {
  auto l = parse_engine_load(
      "vllm:num_requests_running{model_name=\"a\"} 1\nvllm:num_requests_running{model_name=\"b\"} "
      "1\n"
      "vllm:kv_cache_usage_perc{model_name=\"a\"} 0.2\nvllm:kv_cache_usage_perc{model_name=\"b\"} "
      "0.6\n",
      names_of(EngineType::kVllm));
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->running, 2);
  EXPECT_NEAR(*l->kv_cache_usage, 0.4, 1e-12);
}

// vLLM's TTFT buckets in seconds, over two label sets and with +Inf, into the gateways' buckets
// (kTtftBoundsMs): each engine bucket counts in ours that holds its upper bound.
TEST(EngineLoad, TheTtftHistogramIsRebucketedByUpperBoundOverLabelSets) {
  const std::string text =
      "vllm:num_requests_running{model_name=\"a\"} 0\n"
      "# TYPE vllm:time_to_first_token_seconds histogram\n"
      "vllm:time_to_first_token_seconds_bucket{le=\"0.001\",model_name=\"a\"} 1.0\n"
      "vllm:time_to_first_token_seconds_bucket{le=\"0.01\",model_name=\"a\"} 1.0\n"
      "vllm:time_to_first_token_seconds_bucket{le=\"0.02\",model_name=\"a\"} 4.0\n"
      "vllm:time_to_first_token_seconds_bucket{le=\"0.04\",model_name=\"a\"} 4.0\n"
      "vllm:time_to_first_token_seconds_bucket{le=\"0.75\",model_name=\"a\"} 9.0\n"
      "vllm:time_to_first_token_seconds_bucket{le=\"+Inf\",model_name=\"a\"} 10.0\n"
      "vllm:time_to_first_token_seconds_count{model_name=\"a\"} 10.0\n"
      "vllm:time_to_first_token_seconds_sum{model_name=\"a\"} 3.5\n"
      "vllm:time_to_first_token_seconds_bucket{model_name=\"b\",le=\"0.02\"} 2\n"
      "vllm:time_to_first_token_seconds_bucket{model_name=\"b\",le=\"+Inf\"} 2\n";
  auto l = parse_engine_load(text, names_of(EngineType::kVllm));
  ASSERT_TRUE(l.has_value());
  std::vector<uint64_t> want(kTtftBoundsMs.size() + 1, 0);
  want[0] = 1;                     // le 1 ms: <= 10 ms
  want[1] = 3 + 2;                 // le 20 ms: <= 25 ms (both label sets)
  want[6] = 5;                     // le 750 ms: <= 1000 ms
  want[kTtftBoundsMs.size()] = 1;  // +Inf: above the last bound
  EXPECT_EQ(l->ttft_counts, want);
  // An engine without the histogram (or an adapter naming none) reports none: unknown.
  auto none = parse_engine_load("vllm:num_requests_running 1\n", names_of(EngineType::kVllm));
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->ttft_counts.empty());
  auto unnamed = parse_engine_load(text, kVllm);
  ASSERT_TRUE(unnamed.has_value());
  EXPECT_TRUE(unnamed->ttft_counts.empty());
}

// vLLM's queue-time histogram (request_queue_time_seconds, request-latency buckets) is read the
// same way, apart from the TTFT one: the two never mix.
TEST(EngineLoad, TheQueueTimeHistogramIsReadApartFromTheTtftOne) {
  const std::string text =
      "vllm:num_requests_running{model_name=\"a\"} 2\n"
      "vllm:time_to_first_token_seconds_bucket{le=\"0.02\",model_name=\"a\"} 7\n"
      "vllm:time_to_first_token_seconds_bucket{le=\"+Inf\",model_name=\"a\"} 7\n"
      "# TYPE vllm:request_queue_time_seconds histogram\n"
      "vllm:request_queue_time_seconds_bucket{le=\"0.3\",model_name=\"a\"} 4\n"
      "vllm:request_queue_time_seconds_bucket{le=\"2.5\",model_name=\"a\"} 6\n"
      "vllm:request_queue_time_seconds_bucket{le=\"+Inf\",model_name=\"a\"} 7\n"
      "vllm:request_queue_time_seconds_count{model_name=\"a\"} 7\n"
      "vllm:request_queue_time_seconds_sum{model_name=\"a\"} 30.5\n";
  auto l = parse_engine_load(text, names_of(EngineType::kVllm));
  ASSERT_TRUE(l.has_value());
  std::vector<uint64_t> ttft(kTtftBoundsMs.size() + 1, 0);
  ttft[1] = 7;  // le 20 ms: <= 25 ms
  EXPECT_EQ(l->ttft_counts, ttft);
  std::vector<uint64_t> queue(kTtftBoundsMs.size() + 1, 0);
  queue[5] = 4;                     // le 300 ms: <= 500 ms
  queue[7] = 2;                     // le 2.5 s: <= 2.5 s
  queue[kTtftBoundsMs.size()] = 1;  // +Inf
  ASSERT_EQ(queue.size(), 13u);
  EXPECT_EQ(l->queue_counts, queue);
  // SGLang's adapter names no queue-time histogram: unknown, whatever the text holds.
  auto sglang = parse_engine_load(
      "sglang:num_running_reqs 1\nvllm:request_queue_time_seconds_bucket{le=\"+Inf\"} 3\n",
      names_of(EngineType::kSglang));
  ASSERT_TRUE(sglang.has_value());
  EXPECT_TRUE(sglang->queue_counts.empty());
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
