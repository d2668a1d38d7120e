// What keeps one controller sound at fleet scale (#18): "unchanged" replies to heartbeats that
// change nothing, heartbeat backpressure with leases that stretch with it, a routing table that
// is rebuilt only when something changed yet always matches the replicas, and no replica held
// twice or beyond its target however heartbeats and replies are lost, delayed or repeated.
#include <gtest/gtest.h>

#include <deque>
#include <random>

#include "fake_agent.h"
#include "fleet/fleet.h"

namespace gf {
namespace {

using namespace std::chrono_literals;

DeploymentSpec deployment(const std::string& name, int replicas, int max = 64) {
  return one_gpu_deployment(name, replicas, max);
}

Fleet make_fleet(TimePoint now, FleetOptions o = {}) {
  auto f = Fleet::create(PlacementSpec{}, o, now);
  EXPECT_TRUE(f.ok());
  return std::move(*f);
}

// One heartbeat from `a` with "unchanged" understood, applied as ControllerLink applies it.
NodeAssignment beat(Fleet& f, FakeAgent& a, TimePoint now, bool accepts = true) {
  NodeReport r = a.beat();
  r.accepts_unchanged = accepts;
  auto reply = f.heartbeat(r, now);
  EXPECT_TRUE(reply.ok()) << reply.error().message;
  if (!reply.ok() || reply->generation < a.applied) return {};
  if (!reply->unchanged) {
    a.running.clear();
    for (const auto& x : reply->replicas)
      if (!x.draining || a.busy_engines) a.running[x.id] = x.generation;
  }
  a.applied = reply->generation;
  return *reply;
}

TEST(FleetScale, AHeartbeatThatChangesNothingIsAnsweredUnchanged) {
  ManualClock clock;
  Fleet f = make_fleet(clock.now());
  ASSERT_TRUE(f.apply(deployment("llama", 2), "m", clock.now()).ok());
  FakeAgent a{"node-1"};
  beat(f, a, clock.now());
  f.tick(clock.now());
  NodeAssignment full = beat(f, a, clock.now());  // the two placements
  EXPECT_FALSE(full.unchanged);
  ASSERT_EQ(full.replicas.size(), 2u);
  clock.advance(1s);
  NodeAssignment same = beat(f, a, clock.now());
  EXPECT_TRUE(same.unchanged);
  EXPECT_TRUE(same.replicas.empty());
  EXPECT_EQ(a.running.size(), 2u);  // kept
  EXPECT_GE(same.generation, full.generation);

  // An agent that does not say it understands always gets the whole set.
  clock.advance(1s);
  NodeAssignment old_agent = beat(f, a, clock.now(), /*accepts=*/false);
  EXPECT_FALSE(old_agent.unchanged);
  EXPECT_EQ(old_agent.replicas.size(), 2u);

  // A third replica on this node: the whole set again, then unchanged once it is applied.
  ASSERT_TRUE(f.scale("llama", 3, clock.now()).ok());
  NodeAssignment grown = beat(f, a, clock.now());
  EXPECT_FALSE(grown.unchanged);
  EXPECT_EQ(grown.replicas.size(), 3u);
  clock.advance(1s);
  EXPECT_TRUE(beat(f, a, clock.now()).unchanged);
}

TEST(FleetScale, AReplyThatWasLostIsSentWholeAgain) {
  ManualClock clock;
  Fleet f = make_fleet(clock.now());
  ASSERT_TRUE(f.apply(deployment("llama", 1), "m", clock.now()).ok());
  FakeAgent a{"node-1"};
  beat(f, a, clock.now());
  f.tick(clock.now());
  beat(f, a, clock.now());
  clock.advance(1s);
  ASSERT_TRUE(beat(f, a, clock.now()).unchanged);
  // The reply carrying the second replica never arrives: the agent still reports the older
  // generation, so the next reply carries the set again rather than "unchanged".
  ASSERT_TRUE(f.scale("llama", 2, clock.now()).ok());
  NodeReport r = a.beat();
  r.accepts_unchanged = true;
  ASSERT_TRUE(f.heartbeat(r, clock.now()).ok());  // lost on the way back
  clock.advance(1s);
  NodeAssignment again = beat(f, a, clock.now());
  EXPECT_FALSE(again.unchanged);
  EXPECT_EQ(again.replicas.size(), 2u);
}

TEST(FleetScale, ADrainingReplicaKeepsWholeReplies) {
  ManualClock clock;
  Fleet f = make_fleet(clock.now());
  DeploymentSpec d = deployment("llama", 2);
  d.replicas.min = 1;
  ASSERT_TRUE(f.apply(d, "m", clock.now()).ok());
  ASSERT_TRUE(f.scale("llama", 2, clock.now()).ok());
  FakeAgent a{"node-1"};
  a.busy_engines = true;  // draining engines keep running until the drain timeout
  for (int i = 0; i < 3; ++i) {
    beat(f, a, clock.now());
    f.tick(clock.now());
    clock.advance(1s);
  }
  ASSERT_TRUE(f.scale("llama", 1, clock.now()).ok());
  for (int i = 0; i < 3; ++i) {
    NodeAssignment r = beat(f, a, clock.now());
    EXPECT_FALSE(r.unchanged) << "beat " << i;
    bool draining = false;
    for (const auto& x : r.replicas)
      draining = draining || x.draining;
    EXPECT_TRUE(draining) << "beat " << i;
    clock.advance(1s);
  }
}

TEST(FleetScale, ABusyControllerLengthensTheIntervalAndNodeLeasesWithIt) {
  ManualClock clock;
  Fleet f = make_fleet(clock.now());
  FakeAgent quiet{"node-1"}, talking{"node-2"};
  beat(f, quiet, clock.now());
  beat(f, talking, clock.now());
  EXPECT_EQ(f.heartbeat_interval(), 1s);
  for (int i = 0; i < 100; ++i) {
    clock.advance(200ms);
    f.observe_busy(1.0, clock.now());
    f.tick(clock.now());
    if (i % 5 == 0) beat(f, talking, clock.now());
  }
  ASSERT_GT(f.heartbeat_interval(), 2s);
  // node-1 last heard 20 s ago, told 1 s: lost after its 10 s lease.
  EXPECT_EQ(f.nodes().at("node-1").state, NodeState::kLost);
  // node-2 is told the longer interval, and given a lease that many intervals long.
  NodeAssignment r = beat(f, talking, clock.now());
  EXPECT_EQ(r.heartbeat_interval, f.heartbeat_interval());
  const Duration told = r.heartbeat_interval;
  clock.advance(told * 9);
  f.tick(clock.now());
  EXPECT_EQ(f.nodes().at("node-2").state, NodeState::kReady);
  ASSERT_TRUE(f.next_deadline().has_value());
  clock.advance(told * 2);
  f.tick(clock.now());
  EXPECT_EQ(f.nodes().at("node-2").state, NodeState::kLost);
}

// Which replicas the routing table should hold: Ready, with a port, on a Ready node.
std::set<std::string> routable(const Fleet& f) {
  std::set<std::string> out;
  for (const auto& [id, r] : f.replicas()) {
    auto n = f.nodes().find(r.node);
    if (r.state == ReplicaState::kReady && r.port != 0 && n != f.nodes().end() &&
        n->second.state == NodeState::kReady)
      out.insert(id);
  }
  return out;
}

std::set<std::string> routed(const Fleet& f) {
  std::set<std::string> out;
  for (const auto& m : f.routing_table().models)
    for (const auto& rev : m.revisions)
      for (const auto& x : rev.replicas)
        out.insert(x.id);
  return out;
}

// A deployment at rest is not reconciled on every tick (it would decide nothing), yet anything
// that changes its replicas brings it back: a scale, a node lost, a GPU gone faulty.
TEST(FleetScale, ADeploymentAtRestCostsATickNothingYetStillReacts) {
  ManualClock clock;
  Fleet f = make_fleet(clock.now());
  ASSERT_TRUE(f.apply(deployment("llama", 4), "m", clock.now()).ok());
  FakeAgent a{"node-1"}, b{"node-2"};
  auto round = [&] {
    clock.advance(200ms);
    beat(f, a, clock.now());
    beat(f, b, clock.now());
    f.tick(clock.now());
  };
  for (int i = 0; i < 5; ++i)
    round();
  ASSERT_EQ(routed(f).size(), 4u);
  (void)f.take_changes();
  const uint64_t events = f.last_event_seq();
  const uint64_t version = f.routing_table().version;
  for (int i = 0; i < 10; ++i)
    round();
  EXPECT_TRUE(f.take_changes().empty());
  EXPECT_EQ(f.last_event_seq(), events);
  EXPECT_EQ(f.routing_table().version, version);

  ASSERT_TRUE(f.scale("llama", 6, clock.now()).ok());
  for (int i = 0; i < 5; ++i)
    round();
  EXPECT_EQ(routed(f).size(), 6u);

  // node-2 falls silent: its replicas come back on node-1 once its lease runs out.
  for (int i = 0; i < 60; ++i) {
    clock.advance(200ms);
    beat(f, a, clock.now());
    f.tick(clock.now());
  }
  EXPECT_EQ(f.nodes().at("node-2").state, NodeState::kLost);
  EXPECT_EQ(routed(f).size(), 4u);  // node-1 has 4 GPUs
  int pending = 0;
  for (const auto& [id, r] : f.replicas())
    pending += r.state == ReplicaState::kPending;
  EXPECT_EQ(pending, 2);

  // A GPU under a Ready replica goes Faulty: the deployment acts (make-before-break) although no
  // replica record changed yet.
  const std::string on_gpu0 = [&] {
    for (const auto& [id, r] : f.replicas())
      if (r.state == ReplicaState::kReady && r.gpus.front() == "GPU-node-1-0") return id;
    return std::string();
  }();
  ASSERT_FALSE(on_gpu0.empty());
  a.gpu_health[0] = {Health::kFaulty, "overheating: 92 C"};
  clock.advance(200ms);
  beat(f, a, clock.now());
  f.tick(clock.now());
  bool moving_event = false;
  for (const auto& e : f.events())
    moving_event = moving_event || (e.subject == on_gpu0 && e.to == "Moving");
  EXPECT_TRUE(moving_event);
  pending = 0;
  for (const auto& [id, r] : f.replicas())
    pending += r.state == ReplicaState::kPending;
  EXPECT_EQ(pending, 3) << "no replacement for the replica on the hot GPU";
}

// The spacing of routing rebuilds grows with the fleet: a change waits for routing_batch per
// routing_batch_replicas replicas, and next_deadline() says when it will be published.
TEST(FleetScale, ALargerFleetBatchesRoutingChangesLonger) {
  ManualClock clock;
  FleetOptions o;
  o.routing_batch_replicas = 2;  // 8 replicas: 4 x 100 ms
  Fleet f = make_fleet(clock.now(), o);
  ASSERT_TRUE(f.apply(deployment("llama", 8), "m", clock.now()).ok());
  FakeAgent a{"node-1"}, b{"node-2"};
  for (int i = 0; i < 8; ++i) {
    clock.advance(1s);
    beat(f, a, clock.now());
    beat(f, b, clock.now());
    f.tick(clock.now());
  }
  ASSERT_EQ(routed(f).size(), 8u);
  // One engine restarts (a new process: the table must say so): published at once, the first
  // change after a quiet second.
  clock.advance(1s);
  NodeReport r = a.beat();
  r.replicas.front().restarts = 1;
  ASSERT_TRUE(f.heartbeat(r, clock.now()).ok());
  const TimePoint first = clock.now();
  const uint64_t version = f.routing_table().version;
  // Another one 150 ms later waits for the batch: 4 x 100 ms after the last rebuild.
  clock.advance(150ms);
  NodeReport q = b.beat();
  q.replicas.front().restarts = 1;
  ASSERT_TRUE(f.heartbeat(q, clock.now()).ok());
  f.tick(clock.now());
  EXPECT_EQ(f.routing_table().version, version) << "published before its batch was over";
  ASSERT_TRUE(f.next_deadline().has_value());
  EXPECT_EQ(*f.next_deadline(), first + 400ms);
  clock.advance(150ms);
  f.tick(clock.now());
  EXPECT_EQ(f.routing_table().version, version);
  clock.advance(100ms);
  f.tick(clock.now());
  EXPECT_EQ(f.routing_table().version, version + 1);
}

// Heartbeats and replies lost, delayed (replies overtaking each other) and repeated, with scaling
// and node silences in between. After every tick: the routing table holds exactly the routable
// replicas; no replica is run by two agents; agents run no more replicas the fleet still counts
// than the deployment's target; and a node whose reports keep arriving within its lease is never
// declared lost.
TEST(FleetScaleProperty, LostLateAndRepeatedHeartbeatsNeverHoldAReplicaTwice) {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    ManualClock clock;
    Fleet f = make_fleet(clock.now());
    std::mt19937_64 rng(seed);
    std::vector<FakeAgent> agents;
    for (int i = 1; i <= 5; ++i)
      agents.push_back(FakeAgent{"node-" + std::to_string(i), 4});
    struct InFlight {
      size_t agent;
      NodeAssignment reply;
      TimePoint deliver_at;
    };
    std::deque<InFlight> wire;
    std::vector<TimePoint> last_arrival(agents.size(), clock.now());
    std::vector<bool> silent(agents.size(), false);
    int target = 6;
    DeploymentSpec d = deployment("llama", target);
    d.replicas.min = 1;
    ASSERT_TRUE(f.apply(d, "m", clock.now()).ok());
    ASSERT_TRUE(f.scale("llama", target, clock.now()).ok());
    for (int step = 0; step < 300; ++step) {
      if (rng() % 25 == 0) {
        target = 2 + static_cast<int>(rng() % 12);
        ASSERT_TRUE(f.scale("llama", target, clock.now()).ok());
      }
      if (rng() % 40 == 0) {
        const size_t i = rng() % agents.size();
        silent[i] = !silent[i];
      }
      for (size_t i = 0; i < agents.size(); ++i) {
        if (silent[i] || rng() % 5 == 0) continue;  // a lost heartbeat
        NodeReport r = agents[i].beat();
        r.accepts_unchanged = rng() % 2 == 0;
        auto reply = f.heartbeat(r, clock.now());
        if (rng() % 10 == 0) (void)f.heartbeat(r, clock.now());  // a repeated one: refused
        if (!reply.ok()) continue;
        last_arrival[i] = clock.now();
        if (rng() % 6 == 0) continue;  // the reply is lost
        wire.push_back({i, *reply, clock.now() + std::chrono::milliseconds(rng() % 3000)});
      }
      // Replies arrive in any order; an agent applies only ones not older than what it has.
      for (auto it = wire.begin(); it != wire.end();) {
        if (it->deliver_at > clock.now()) {
          ++it;
          continue;
        }
        FakeAgent& a = agents[it->agent];
        if (it->reply.generation >= a.applied) {
          if (!it->reply.unchanged) {
            a.running.clear();
            for (const auto& x : it->reply.replicas)
              if (!x.draining) a.running[x.id] = x.generation;
          }
          a.applied = it->reply.generation;
        }
        it = wire.erase(it);
      }
      f.tick(clock.now());

      ASSERT_EQ(routed(f), routable(f)) << "seed " << seed << " step " << step;
      std::map<std::string, int> holders;
      int counted = 0;
      for (const auto& a : agents)
        for (const auto& [id, gen] : a.running) {
          ++holders[id];
          auto r = f.replicas().find(id);
          counted += r != f.replicas().end() && r->second.state != ReplicaState::kDraining;
        }
      for (const auto& [id, n] : holders)
        ASSERT_EQ(n, 1) << "seed " << seed << " step " << step << ": " << id << " run twice";
      ASSERT_LE(counted, target) << "seed " << seed << " step " << step;
      for (size_t i = 0; i < agents.size(); ++i) {
        auto n = f.nodes().find(agents[i].node);
        if (n != f.nodes().end() && clock.now() - last_arrival[i] <= FleetOptions{}.node_lease) {
          ASSERT_EQ(n->second.state, NodeState::kReady)
              << "seed " << seed << " step " << step << ": " << agents[i].node;
        }
      }
      clock.advance(std::chrono::milliseconds(200 + rng() % 800));
    }
  }
}

}  // namespace
}  // namespace gf
