// The engine load an agent sends in its heartbeats: the latest reading of the engine's metrics
// (agent/engine_load.h) summarised with its age, dropped once too old, and carried from a Ready
// replica's runner into the heartbeat the controller link builds.
#include "agent/load_summary.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/controller_link.h"
#include "common/clock.h"
#include "gpu/fake_provider.h"

namespace gf {
namespace {

using namespace std::chrono_literals;

// What engine-sim serves (vLLM's names, both KV-usage gauges), cut down.
const char* kEngineSimText =
    "# TYPE vllm:num_requests_running gauge\n"
    "vllm:num_requests_running{model_name=\"m\"} 3\n"
    "vllm:num_requests_waiting{model_name=\"m\"} 2\n"
    "vllm:kv_cache_usage_perc{model_name=\"m\"} 0.25\n"
    "vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.25\n"
    "vllm:prompt_tokens_total{model_name=\"m\"} 1200\n"
    "vllm:generation_tokens_total{model_name=\"m\"} 800\n";

TEST(LoadSummary, CarriesTheReadingWithItsAge) {
  ManualClock clock;
  const TimePoint asked = clock.now();
  EngineLoad load;
  load.running = 3;
  load.waiting = 0;  // zero is a value ...
  load.kv_cache_usage = 0.25;
  load.prompt_tokens = 1200;
  load.ttft_counts = {1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  load.queue_counts = {6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  clock.advance(1500ms);
  auto s = load_summary(EngineReading{load, asked}, clock.now(), 3s);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->running, 3);
  EXPECT_EQ(s->waiting, 0);
  EXPECT_EQ(s->kv_cache_usage, 0.25);
  EXPECT_EQ(s->prompt_tokens, Tokens(1200));
  EXPECT_EQ(s->ttft_counts, load.ttft_counts);
  EXPECT_EQ(s->queue_counts, load.queue_counts);
  EXPECT_FALSE(s->generation_tokens.has_value());  // ... and unknown is not zero
  EXPECT_EQ(s->age, 1500ms);
}

TEST(LoadSummary, NothingWithoutAReadingOrOnceItIsTooOld) {
  ManualClock clock;
  EXPECT_FALSE(load_summary(std::nullopt, clock.now(), 3s).has_value());
  const EngineReading r{EngineLoad{}, clock.now()};
  clock.advance(3s);
  EXPECT_TRUE(load_summary(r, clock.now(), 3s).has_value());
  clock.advance(1ms);
  EXPECT_FALSE(load_summary(r, clock.now(), 3s).has_value());
}

TEST(LoadSummary, KeepsWhatTheControllerAcceptsFromABrokenExporter) {
  ManualClock clock;
  EngineLoad load;
  load.running = -1;
  load.waiting = 2.6;
  load.kv_cache_usage = 1.02;
  load.generation_tokens = -5;
  // A scrape stamped after `now` (clock skew between calls) is not negative in age.
  auto s = load_summary(EngineReading{load, clock.now() + 10ms}, clock.now(), 3s);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->running, 0);
  EXPECT_EQ(s->waiting, 3);
  EXPECT_EQ(s->kv_cache_usage, 1.0);
  EXPECT_EQ(s->generation_tokens, Tokens(0));
  EXPECT_EQ(s->age, 0ms);
}

// The whole agent side: a Ready replica's runner scrapes its engine, and the heartbeat carries
// the summary while it is fresh and drops it once it is more than 3 heartbeats old.
TEST(LoadSummary, AReadyReplicasLoadReachesTheHeartbeatWhileFresh) {
  const std::string dir = ::testing::TempDir() + "/load-summary-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  // An "engine" that runs until stopped, whatever arguments the adapter gives it.
  const std::string engine = dir + "/engine";
  std::ofstream(engine) << "#!/bin/sh\nexec sleep 60\n";
  std::filesystem::permissions(engine, std::filesystem::perms::owner_all);

  ManualClock clock;
  ProcessSupervisor sup{{}};
  int scrapes = 0;
  ReplicaSet set(
      sup, dir, engine, {}, [](uint16_t, const std::string&, uint64_t) { return true; },
      [&](uint16_t, const std::string& path, TimePoint now) -> std::optional<MetricsScrape> {
        EXPECT_EQ(path, "/metrics");
        // As AsyncProber::fetch: the text of the scrape started by the previous call.
        return scrapes++ == 0 ? std::nullopt
                              : std::optional<MetricsScrape>({kEngineSimText, now - 1s});
      });
  DesiredReplica r;
  r.id = "chat-0";
  r.deployment.model = "m";
  r.deployment.engine.type = EngineType::kEngineSim;
  r.gpu_uuids = {"GPU-node-1-0"};
  ASSERT_TRUE(set.ensure(r, clock.now()).ok());
  for (int i = 0; i < 4; ++i) {  // start, ready, first scrape, its answer
    set.tick(clock.now());
    clock.advance(1s);
  }
  ASSERT_EQ(set.list().at(0).state, ReplicaProcessState::kReady) << set.list().at(0).reason;
  ASSERT_TRUE(set.list().at(0).load.has_value());

  NodeSpec node;
  node.name = "node-1";
  node.gpus.push_back(GpuGroupSpec{"A100-80GB", 1, MiB{81920}, 1.0, {}});
  auto provider = FakeProvider::create(node);
  ASSERT_TRUE(provider.ok()) << provider.error().message;
  Registry registry;
  GpuMonitor monitor(**provider, HealthPolicyConfig{}, registry, "node-1");
  ASSERT_TRUE(monitor.discover().ok());
  ControllerLink link(ControllerLinkConfig{"node-1", "id", "127.0.0.1", 1, {}, {}});

  NodeReport beat = link.build(monitor, set, clock.now());
  ASSERT_EQ(beat.replicas.size(), 1u);
  ASSERT_TRUE(beat.replicas[0].load.has_value());
  EXPECT_EQ(beat.replicas[0].load->running, 3);
  EXPECT_EQ(beat.replicas[0].load->waiting, 2);
  EXPECT_EQ(beat.replicas[0].load->kv_cache_usage, 0.25);
  EXPECT_EQ(beat.replicas[0].load->age, 2s);  // asked for 1 s before the last tick, 1 s ago
  // Nothing newer for more than three heartbeat intervals: the heartbeat says unknown.
  EXPECT_FALSE(link.build(monitor, set, clock.now() + 1001ms).replicas[0].load.has_value());
  set.stop_all(clock.now(), 1s);
  for (int i = 0; i < 100 && !set.all_stopped(); ++i) {
    (void)sup.poll(clock.now(), 50ms);
    set.tick(clock.now());
  }
}

}  // namespace
}  // namespace gf
