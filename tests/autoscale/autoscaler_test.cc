// The autoscaler over a real Fleet, in virtual time: gateway reports in, Fleet::scale out, with
// the decision kept as the Scaled event's reason; scale from zero within the period in which the
// first request waits; deployments without spec.autoscaling are left alone.
#include <gtest/gtest.h>

#include <algorithm>

#include "autoscale/autoscaler.h"
#include "common/clock.h"
#include "common/traffic_report.h"

namespace gf {
namespace {

using namespace std::chrono_literals;

constexpr const char* kModel = "meta-llama/Llama-2-7b-hf";

class AutoscalerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto f = Fleet::create(PlacementSpec{}, FleetOptions{}, clock.now());
    ASSERT_TRUE(f.ok()) << f.error().message;
    fleet.emplace(std::move(*f));
    heartbeat();  // one node, 8 GPUs
  }

  // The node reports every replica assigned to it as Ready.
  void heartbeat() {
    NodeReport r;
    r.node = "n1";
    r.agent_id = "agent-n1";
    r.seq = ++seq;
    r.host = "n1";
    for (int i = 0; i < 8; ++i) {
      GpuReport g;
      g.uuid = "n1-GPU-" + std::to_string(i);
      g.index = i;
      g.name = "A100-80GB";
      g.memory = MiB{81920};
      r.gpus.push_back(g);
    }
    uint16_t port = 20000;
    for (const auto& [id, gen] : assigned) {
      r.replicas.push_back(ReplicaReport{id, gen, ReplicaProcessState::kReady, "", port++, 0});
      if (auto l = loads.find(id); l != loads.end()) r.replicas.back().load = l->second;
    }
    r.applied_generation = applied;
    auto a = fleet->heartbeat(r, clock.now());
    ASSERT_TRUE(a.ok()) << a.error().message;
    applied = a->generation;
    assigned.clear();
    for (const auto& x : a->replicas)
      assigned[x.id] = x.generation;
  }

  void apply(int min, int max, bool autoscale) {
    DeploymentSpec d;
    d.name = "chat";
    d.model = kModel;
    d.replicas = {min, max};
    if (autoscale) {
      AutoscalingSpec a;
      a.scale_to_zero_after = 60s;
      d.autoscaling = a;
    }
    ASSERT_TRUE(fleet->apply(d, "", clock.now()).ok());
  }

  void gateway_reports(int64_t queued, int64_t in_flight, int64_t arrivals) {
    TrafficReport r;
    r.gateway = "gw1";
    r.demand.push_back(ReportedDemand{kModel, queued, in_flight, arrivals, 0, 0, {}});
    scaler.record(r, clock.now());
  }

  // One second: a gateway report, the autoscaler when due, the fleet's tick and a heartbeat.
  void second(int64_t queued, int64_t in_flight, int64_t arrivals) {
    clock.advance(1s);
    gateway_reports(queued, in_flight, arrivals);
    if (auto t = scaler.next_deadline(*fleet); t && *t <= clock.now())
      scaler.tick(*fleet, clock.now());
    fleet->tick(clock.now());
    heartbeat();
  }

  int target() const { return fleet->deployments().at("chat").replicas; }

  ManualClock clock;
  std::optional<Fleet> fleet;
  Autoscaler scaler;
  uint64_t seq = 0;
  int64_t applied = 0;
  std::map<std::string, int64_t> assigned;
  std::map<std::string, ReplicaLoad> loads;  // what each engine reports; absent: nothing
};

TEST_F(AutoscalerTest, FollowsLoadAndRecordsWhy) {
  apply(1, 6, true);
  for (int i = 0; i < 15; ++i)
    second(0, 4, 10);
  EXPECT_EQ(target(), 1);
  for (int i = 0; i < 15; ++i)
    second(10, 20, 30);  // 30 concurrent: ceil(30 / 5.6) = 6
  EXPECT_EQ(target(), 6);
  EXPECT_EQ(assigned.size(), 6u);
  const FleetEvent* scaled = nullptr;
  for (const auto& e : fleet->events())
    if (e.kind == "Scaled") scaled = &e;
  ASSERT_NE(scaled, nullptr);
  EXPECT_NE(scaled->reason.find("autoscaler (target"), std::string::npos) << scaled->reason;
  const DeploymentScaler* s = scaler.scaler("chat");
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->last());
  EXPECT_FALSE(s->changes().empty());
}

TEST_F(AutoscalerTest, SamplesCarryTheEnginesOwnLoadOverTheReplicasThatReported) {
  apply(3, 3, true);
  for (int i = 0; i < 3; ++i)
    second(0, 6, 2);
  ASSERT_EQ(assigned.size(), 3u);
  auto last_sample = [&] {
    const DeploymentScaler* s = scaler.scaler("chat");
    EXPECT_TRUE(s != nullptr && s->last());
    return s->last()->load;
  };
  // Nobody reported yet: unknown, not zero.
  LoadSample before = last_sample();
  EXPECT_EQ(before.ready, 3);
  EXPECT_EQ(before.engines_reporting, 0);
  EXPECT_FALSE(before.engine_running.has_value());
  EXPECT_FALSE(before.engine_waiting.has_value());
  EXPECT_FALSE(before.engine_kv_cache_usage.has_value());
  // Two of the three report; the third stays out of the sums and the mean.
  auto it = assigned.begin();
  loads[it->first] = ReplicaLoad{.running = 4, .waiting = 1, .kv_cache_usage = 0.5};
  loads[std::next(it)->first] = ReplicaLoad{.running = 2, .waiting = 0, .kv_cache_usage = 0.3};
  second(0, 6, 2);  // the heartbeat brings them
  second(0, 6, 2);  // the next period sees them
  LoadSample s = last_sample();
  EXPECT_EQ(s.engines_reporting, 2);
  EXPECT_EQ(s.engine_running, 6);
  EXPECT_EQ(s.engine_waiting, 1);
  ASSERT_TRUE(s.engine_kv_cache_usage.has_value());
  EXPECT_DOUBLE_EQ(*s.engine_kv_cache_usage, 0.4);
  // The gateways' figures are what they were: the engine signals are shown, not sized on.
  EXPECT_EQ(s.in_flight, 6);
  EXPECT_EQ(target(), 3);
}

// Cumulative TTFT counts by bucket (the rest zero).
std::vector<uint64_t> ttft(std::initializer_list<std::pair<size_t, uint64_t>> set) {
  std::vector<uint64_t> v(kTtftBoundsMs.size() + 1, 0);
  for (const auto& [i, n] : set)
    v[i] = n;
  return v;
}

TEST_F(AutoscalerTest, EngineTtftIsWhatTheEnginesCountedSinceTheLastPeriod) {
  apply(2, 2, true);
  for (int i = 0; i < 3; ++i)
    second(0, 2, 2);
  ASSERT_EQ(assigned.size(), 2u);
  const std::string a = assigned.begin()->first, b = std::next(assigned.begin())->first;
  auto last_sample = [&] {
    const DeploymentScaler* s = scaler.scaler("chat");
    EXPECT_TRUE(s != nullptr && s->last());
    return s->last()->load;
  };
  // First readings are baselines, whatever they hold: a controller that restarts must not count
  // an engine's hours of answers as one period's.
  loads[a] = ReplicaLoad{.running = 1, .ttft_counts = ttft({{2, 100}})};
  loads[b] = ReplicaLoad{.running = 1, .ttft_counts = ttft({{6, 50}})};
  second(0, 2, 2);  // the heartbeat brings them
  second(0, 2, 2);  // the next period sees them
  EXPECT_TRUE(std::all_of(last_sample().engine_ttft_counts.begin(),
                          last_sample().engine_ttft_counts.end(),
                          [](uint64_t n) { return n == 0; }));
  EXPECT_FALSE(last_sample().engine_ttft_p95_ms.has_value());
  // a answers 5 more within 50 ms, b one within 1 s: the period counts those six, from both.
  loads[a].ttft_counts = ttft({{2, 105}});
  loads[b].ttft_counts = ttft({{6, 51}});
  second(0, 2, 2);
  second(0, 2, 2);
  LoadSample s = last_sample();
  EXPECT_EQ(s.engine_ttft_counts, ttft({{2, 5}, {6, 1}}));
  ASSERT_TRUE(s.engine_ttft_p95_ms.has_value());
  EXPECT_DOUBLE_EQ(*s.engine_ttft_p95_ms, 850);  // rank 5.7: 0.7 of the way from 500 to 1000
  // Nothing new: nothing counted, no p95 (not the last one's).
  second(0, 2, 2);
  EXPECT_EQ(last_sample().engine_ttft_counts, ttft({}));
  EXPECT_FALSE(last_sample().engine_ttft_p95_ms.has_value());
  // a's engine restarts: its counters begin again, and what it counted since is what counts.
  loads[a].ttft_counts = ttft({{1, 3}});
  second(0, 2, 2);
  second(0, 2, 2);
  EXPECT_EQ(last_sample().engine_ttft_counts, ttft({{1, 3}}));
}

// The engines' queue-time histograms are counted as their TTFT ones, each apart: a histogram's
// first reading is its baseline even when the other's is not, and an engine that reports none
// adds nothing to the deployment's.
TEST_F(AutoscalerTest, EngineQueueTimeIsCountedApartFromTtftTheSameWay) {
  apply(2, 2, true);
  for (int i = 0; i < 3; ++i)
    second(0, 2, 2);
  ASSERT_EQ(assigned.size(), 2u);
  const std::string a = assigned.begin()->first, b = std::next(assigned.begin())->first;
  auto last_sample = [&] { return scaler.scaler("chat")->last()->load; };
  loads[a] = ReplicaLoad{.running = 1, .ttft_counts = ttft({{2, 10}})};  // no queue time yet
  loads[b] = ReplicaLoad{.running = 1, .ttft_counts = ttft({{2, 10}})};  // never any
  second(0, 2, 2);
  second(0, 2, 2);
  EXPECT_TRUE(last_sample().engine_queue_counts.empty());
  // a starts reporting its queue time: a baseline, while its TTFT counts on.
  loads[a].ttft_counts = ttft({{2, 12}});
  loads[a].queue_counts = ttft({{0, 40}, {8, 4}});
  second(0, 2, 2);
  second(0, 2, 2);
  EXPECT_EQ(last_sample().engine_ttft_counts, ttft({{2, 2}}));
  EXPECT_TRUE(last_sample().engine_queue_counts.empty());
  // Two more answers, one of which waited over 2.5 s in a's queue.
  loads[a].ttft_counts = ttft({{2, 13}, {9, 1}});
  loads[a].queue_counts = ttft({{0, 41}, {8, 5}});
  second(0, 2, 2);
  second(0, 2, 2);
  EXPECT_EQ(last_sample().engine_ttft_counts, ttft({{2, 1}, {9, 1}}));
  EXPECT_EQ(last_sample().engine_queue_counts, ttft({{0, 1}, {8, 1}}));
  ASSERT_TRUE(last_sample().engine_queue_p95_ms.has_value());
  EXPECT_GT(*last_sample().engine_queue_p95_ms, 2500);  // the slower one's bucket: 2.5..5 s
  EXPECT_LE(*last_sample().engine_queue_p95_ms, 5000);
  // The window's latency merges them for the policies.
  const WindowLatency w = scaler.scaler("chat")->history().latency(60s, clock.now());
  EXPECT_EQ(w.queue_samples, 2u);
  EXPECT_EQ(w.engine_queue, ttft({{0, 1}, {8, 1}}));
  // a's engine restarts and soon counts past its old queue-time totals: its TTFT counts dropped,
  // its queue counts did not (50 >= 41, 5 >= 5), yet both began again from zero.
  loads[a].ttft_counts = ttft({{2, 55}});
  loads[a].queue_counts = ttft({{0, 50}, {8, 5}});
  second(0, 2, 2);
  second(0, 2, 2);
  EXPECT_EQ(last_sample().engine_ttft_counts, ttft({{2, 55}}));
  EXPECT_EQ(last_sample().engine_queue_counts, ttft({{0, 50}, {8, 5}}));
}

TEST_F(AutoscalerTest, ScalesFromZeroInThePeriodTheFirstRequestWaits) {
  apply(0, 3, true);
  EXPECT_EQ(target(), 0);
  for (int i = 0; i < 3; ++i)
    second(0, 0, 0);  // idle: stays at zero
  EXPECT_EQ(target(), 0);
  // Half a period later a request is held by the gateway: the autoscaler is due at once.
  clock.advance(300ms);
  gateway_reports(1, 0, 1);
  auto due = scaler.next_deadline(*fleet);
  ASSERT_TRUE(due);
  EXPECT_LE(*due, clock.now());
  auto ds = scaler.tick(*fleet, clock.now());
  ASSERT_FALSE(ds.empty());
  EXPECT_EQ(ds.front().rule, "scale from zero");
  EXPECT_EQ(target(), 1);
  // And back to zero once idle for the whole idle period.
  for (int i = 0; i < 59; ++i)
    second(0, 0, 0);
  EXPECT_EQ(target(), 1);
  for (int i = 0; i < 3; ++i)
    second(0, 0, 0);
  EXPECT_EQ(target(), 0);
}

TEST_F(AutoscalerTest, LeavesFixedDeploymentsAlone) {
  apply(2, 2, false);
  for (int i = 0; i < 5; ++i)
    second(100, 100, 100);
  EXPECT_EQ(target(), 2);
  EXPECT_EQ(scaler.scaler("chat"), nullptr);
  EXPECT_FALSE(scaler.next_deadline(*fleet));
}

TEST_F(AutoscalerTest, SilentGatewaysHoldTheCount) {
  apply(1, 6, true);
  for (int i = 0; i < 15; ++i)
    second(10, 20, 30);
  const int n = target();
  ASSERT_GT(n, 1);
  // No report at all for a minute: never read as no load.
  for (int i = 0; i < 60; ++i) {
    clock.advance(1s);
    if (auto t = scaler.next_deadline(*fleet); t && *t <= clock.now())
      scaler.tick(*fleet, clock.now());
    fleet->tick(clock.now());
    heartbeat();
  }
  EXPECT_EQ(target(), n);
  EXPECT_EQ(scaler.scaler("chat")->last()->rule, "no signal");
}

}  // namespace
}  // namespace gf

namespace gf {
namespace {

// Scaling up grows on the GPU model that serves the most per dollar-hour. The perf model has one
// Llama-2-7b replica sustain 12.5 req/s on an A100 and 22.6 on an H100 (512 in / 128 out): at
// $2 and $3 an hour the H100 is the better buy although the A100 is cheaper (which is all that
// placement's cost-efficiency score would see); at $2 and $5 the A100 is.
std::string grows_on(double a100_price, double h100_price) {
  ManualClock clock;
  PlacementSpec placement;
  placement.gpu_prices = {{"A100-80GB", a100_price}, {"H100-80GB", h100_price}};
  auto f = Fleet::create(placement, FleetOptions{}, clock.now());
  EXPECT_TRUE(f.ok());
  Autoscaler scaler;
  auto beat = [&](const std::string& node, const std::string& model) {
    NodeReport r;
    r.node = node;
    r.agent_id = "agent-" + node;
    r.seq = static_cast<uint64_t>(clock.now().time_since_epoch().count());
    r.host = node;
    for (int i = 0; i < 2; ++i)
      r.gpus.push_back(GpuReport{node + "-GPU-" + std::to_string(i), i, model, MiB{81920}});
    EXPECT_TRUE(f->heartbeat(r, clock.now()).ok());
  };
  beat("a", "A100-80GB");
  beat("h", "H100-80GB");
  DeploymentSpec d;
  d.name = "chat";
  d.model = kModel;
  d.replicas = {0, 4};
  d.autoscaling = AutoscalingSpec{};
  EXPECT_TRUE(f->apply(d, "", clock.now()).ok());
  clock.advance(1s);
  scaler.tick(*f, clock.now());  // takes the deployment and ranks its GPUs
  EXPECT_TRUE(f->scale("chat", 1, clock.now(), "as the autoscaler would").ok());
  std::string model;
  for (const auto& [id, r] : f->replicas())
    model = r.gpu_model;
  return model;
}

TEST(AutoscalerGpuChoice, GrowsOnTheGpuThatServesMostPerDollar) {
  EXPECT_EQ(grows_on(2.0, 3.0), "H100-80GB");
  EXPECT_EQ(grows_on(2.0, 5.0), "A100-80GB");
}

}  // namespace
}  // namespace gf
