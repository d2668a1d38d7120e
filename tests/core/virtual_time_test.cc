// The seed of the simulator: the live system's decision objects — a Fleet with two nodes, the
// gateway's Serving object (admission, router) and one BatchEngine per ready replica — driven
// in virtual time by a discrete-event loop that jumps to the earliest deadline, with no sockets,
// threads or wall clock. Requests flow through placement, routing, admission and the engines; a
// node is lost mid-run and the fleet replaces its replica while traffic keeps being served.
// This test links only core libraries (gf_fleet, gf_serving, gf_perfmodel): what a simulator
// needs of gpufleet's decisions is all there.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <set>

#include "common/clock.h"
#include "common/rng.h"
#include "fleet/fleet.h"
#include "perfmodel/batch_engine.h"
#include "perfmodel/perf_model.h"
#include "perfmodel/perf_model_cost.h"
#include "serving/serving.h"

namespace gf {
namespace {

using namespace std::chrono_literals;

constexpr const char* kModel = "meta-llama/Llama-2-7b-hf";
constexpr const char* kGpu = "A100-80GB";

// One replica's engine as the simulator models it: a BatchEngine, busy until its iteration ends.
struct SimEngine {
  std::unique_ptr<BatchEngine> engine;
  std::optional<TimePoint> busy_until;
  EngineIteration running;
  std::map<uint64_t, RequestId> requests;  // engine request id -> serving request
};

// A request on its way: when it arrived, its first token, where it is.
struct SimRequest {
  TimePoint arrived{};
  std::optional<TimePoint> first_token;
  std::string replica;
  bool done = false;
  bool failed = false;
};

class VirtualTimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fleet_or = Fleet::create(PlacementSpec{}, FleetOptions{}, clock.now());
    ASSERT_TRUE(fleet_or.ok()) << fleet_or.error().message;
    fleet.emplace(std::move(*fleet_or));
    auto tenants_or = TenantDirectory::create({});
    ASSERT_TRUE(tenants_or.ok()) << tenants_or.error().message;
    tenants.emplace(std::move(*tenants_or));
    anonymous = tenants->tenants().front();
    ServingConfig config;
    config.replica_concurrency = 64;
    auto serving_or = Serving::create(*tenants, config, clock.now());
    ASSERT_TRUE(serving_or.ok()) << serving_or.error().message;
    serving.emplace(std::move(*serving_or));
    auto perf = PerfModel::lookup(kGpu, kModel, 1);
    ASSERT_TRUE(perf.ok()) << perf.error().message;
    cost = std::make_unique<PerfModelCost>(*perf);
    kv_capacity = perf->kv_capacity(MiB{81920}, 0.9);
  }

  // A node's agent, as the fleet sees it: its GPUs, and the replicas it runs, each Ready one
  // heartbeat after it was assigned (the cold start is not what this test is about).
  struct SimNode {
    std::string name;
    int gpus = 0;
    bool alive = true;
    uint64_t seq = 0;
    int64_t applied = 0;
    std::map<std::string, int64_t> assigned;  // replica id -> generation
    std::set<std::string> started;            // reported Starting once: Ready from now on
  };

  NodeReport report(SimNode& n) {
    NodeReport r;
    r.node = n.name;
    r.agent_id = "agent-" + n.name;
    r.seq = ++n.seq;
    r.host = n.name;
    r.nvlink_groups.emplace_back();  // one NVLink domain per node, like an HGX board
    for (int i = 0; i < n.gpus; ++i) {
      r.nvlink_groups.back().push_back(i);
      GpuReport g;
      g.uuid = n.name + "-GPU-" + std::to_string(i);
      g.index = i;
      g.name = kGpu;
      g.memory = MiB{81920};
      r.gpus.push_back(g);
    }
    uint16_t port = 20000;
    for (const auto& [id, gen] : n.assigned) {
      const bool ready = n.started.count(id) > 0;
      r.replicas.push_back(ReplicaReport{
          id, gen, ready ? ReplicaProcessState::kReady : ReplicaProcessState::kStarting, "", port++,
          0});
      n.started.insert(id);
    }
    r.applied_generation = n.applied;
    return r;
  }

  void heartbeat(SimNode& n) {
    auto a = fleet->heartbeat(report(n), clock.now());
    ASSERT_TRUE(a.ok()) << a.error().message;
    if (a->generation < n.applied) return;
    n.applied = a->generation;
    std::map<std::string, int64_t> next;
    for (const auto& r : a->replicas) {
      // A draining replica's engine is stopped at once, as an idle engine would be.
      if (!r.draining) next[r.id] = r.generation;
    }
    for (const auto& [id, gen] : n.assigned) {
      if (!next.count(id)) stop_engine(id);
    }
    n.assigned = std::move(next);
  }

  // The routing table moved: hand it to the gateway's core, and start an engine for every
  // replica that entered it.
  void follow_table() {
    const RoutingTable& t = fleet->routing_table();
    if (t.version == table_version) return;
    table_version = t.version;
    ASSERT_TRUE(serving->apply_table(t, clock.now()).ok());
    for (const auto& m : t.models)
      for (const auto& rev : m.revisions)
        for (const auto& r : rev.replicas) {
          if (engines.count(r.id)) continue;
          BatchEngineConfig c;
          c.kv_capacity = kv_capacity;
          engines[r.id].engine = std::make_unique<BatchEngine>(*cost, c);
        }
  }

  void stop_engine(const std::string& replica) {
    auto it = engines.find(replica);
    if (it == engines.end()) return;
    // Its connections break: a request whose stream had begun fails (it cannot move); one still
    // waiting for its first byte goes to another replica.
    auto held = std::move(it->second.requests);
    engines.erase(it);
    for (const auto& [eid, rid] : held) {
      const bool streaming = requests.at(rid).first_token.has_value();
      killed_streaming += streaming;
      fail(rid, Failure::kReset, streaming ? AttemptPhase::kStreaming : AttemptPhase::kBeforeHead);
    }
  }

  void fail(RequestId id, Failure f, AttemptPhase phase) {
    SimRequest& r = requests.at(id);
    AttemptEnd end = serving->fail(id, f, phase, clock.now() - r.arrived, clock.now());
    if (end.retry) {
      send(id);
      return;
    }
    r.done = true;
    r.failed = true;
    serving->finish(id, Tokens{0}, clock.now());
  }

  // Picks a replica for the request and hands it to that replica's engine.
  void send(RequestId id) {
    SimRequest& r = requests.at(id);
    PickResult p = serving->pick(id, RouteHints{}, clock.now());
    if (std::holds_alternative<GiveUp>(p)) {
      r.done = true;
      r.failed = true;
      serving->finish(id, Tokens{0}, clock.now());
      return;
    }
    const std::string& replica = *std::get<Attempt>(p).replica;
    auto e = engines.find(replica);
    SimNode* host = node_of(replica);
    if (e == engines.end() || host == nullptr || !host->alive) {
      fail(id, Failure::kConnect, AttemptPhase::kBeforeHead);  // nothing listens there
      return;
    }
    r.replica = replica;
    const uint64_t eid = next_engine_request++;
    EXPECT_TRUE(e->second.engine->submit(EngineRequest{eid, Tokens{512}, Tokens{64}, {}}));
    e->second.requests[eid] = id;
  }

  SimNode* node_of(const std::string& replica) {
    auto r = fleet->replicas().find(replica);
    if (r == fleet->replicas().end()) return nullptr;
    for (auto& n : nodes)
      if (n.name == r->second.node) return &n;
    return nullptr;
  }

  void arrive() {
    Arrival a;
    a.tenant = &anonymous;
    a.model = kModel;
    a.prompt_tokens = Tokens{512};
    a.max_tokens = 64;
    AdmitResult res = serving->admit(a, clock.now());
    ASSERT_TRUE(std::holds_alternative<Entered>(res))
        << std::get<Refusal>(res).reason << " at " << (clock.now() - start_).count() << " ns";
    const Entered& e = std::get<Entered>(res);
    requests[e.id].arrived = clock.now();
    ++arrivals;
    if (!e.queued) send(e.id);
  }

  // Runs or finishes iterations of every engine due now.
  void run_engines() {
    for (auto& [replica, e] : engines) {
      if (e.busy_until && *e.busy_until <= clock.now()) {
        for (const auto& ev : e.running.events) {
          auto it = e.requests.find(ev.id);
          if (it == e.requests.end()) continue;
          SimRequest& r = requests.at(it->second);
          if (ev.kind == EngineEventKind::kToken && !r.first_token) r.first_token = clock.now();
          if (ev.kind == EngineEventKind::kFinished) {
            serving->succeed(it->second, 200, *r.first_token - r.arrived, clock.now());
            serving->finish(it->second, Tokens{512 + ev.tokens}, clock.now());
            r.done = true;
            e.requests.erase(it);
          }
        }
        e.busy_until.reset();
      }
      if (!e.busy_until && !e.engine->idle()) {
        e.running = e.engine->step();
        e.busy_until = clock.now() + e.running.duration;
      }
    }
    while (auto id = serving->dispatch())
      send(*id);
  }

  std::optional<TimePoint> next_engine_event() const {
    std::optional<TimePoint> t;
    for (const auto& [replica, e] : engines)
      if (e.busy_until && (!t || *e.busy_until < *t)) t = e.busy_until;
    return t;
  }

  ManualClock clock;
  const TimePoint start_ = clock.now();
  std::optional<Fleet> fleet;
  std::optional<TenantDirectory> tenants;
  TenantSpec anonymous;
  std::optional<Serving> serving;
  std::unique_ptr<PerfModelCost> cost;
  Tokens kv_capacity{0};
  std::vector<SimNode> nodes;
  std::map<std::string, SimEngine> engines;
  std::map<RequestId, SimRequest> requests;
  uint64_t table_version = 0;
  uint64_t next_engine_request = 1;
  int arrivals = 0;
  int killed_streaming = 0;
};

TEST_F(VirtualTimeTest, RequestsFlowThroughTheCoreAndANodeLossIsHandled) {
  // node-a fits one 2-GPU replica, node-b two: one replica lands on each.
  nodes = {SimNode{"node-a", 2}, SimNode{"node-b", 4}};
  DeploymentSpec d;
  d.name = "llama";
  d.model = kModel;
  d.engine.type = EngineType::kEngineSim;
  d.resources.gpus = 2;
  d.replicas.min = 2;
  d.replicas.max = 2;
  ASSERT_TRUE(fleet->apply(d, "manifest", clock.now()).ok());

  const TimePoint start = clock.now();
  const TimePoint crash = start + 20s;
  const TimePoint end_of_load = start + 60s;
  Rng rng(7);
  TimePoint next_arrival = start + 3s;  // once the replicas are up
  TimePoint next_heartbeat = start;
  std::optional<TimePoint> lost_at;
  int arrivals_after_loss = 0;
  int failed_after_loss = 0;
  int steps = 0;

  while (clock.now() < end_of_load + 30s && ++steps < 2'000'000) {
    // Everything due now, in a fixed order: the node crash, heartbeats, the fleet, engines,
    // arrivals, queue expiry.
    if (clock.now() >= crash && nodes[0].alive) {
      nodes[0].alive = false;  // the machine is gone: no more heartbeats, its engines die
      for (const auto& [id, gen] : nodes[0].assigned)
        stop_engine(id);
    }
    if (clock.now() >= next_heartbeat) {
      for (auto& n : nodes)
        if (n.alive) heartbeat(n);
      next_heartbeat = clock.now() + 1s;
    }
    if (auto due = fleet->next_deadline(); due && *due <= clock.now()) fleet->tick(clock.now());
    if (!lost_at && fleet->nodes().at("node-a").state == NodeState::kLost) lost_at = clock.now();
    follow_table();
    for (auto& ex : serving->expire(clock.now())) {
      requests.at(ex.id).done = true;
      requests.at(ex.id).failed = true;
    }
    run_engines();
    if (clock.now() >= next_arrival && clock.now() < end_of_load) {
      arrive();
      if (lost_at) ++arrivals_after_loss;
      next_arrival = clock.now() + std::chrono::duration_cast<Duration>(
                                       std::chrono::duration<double>(rng.exponential(1.0 / 20)));
    }
    // Jump to the earliest thing anyone has to do.
    TimePoint next = next_heartbeat;
    auto earliest = [&next](std::optional<TimePoint> t) {
      if (t && *t < next) next = *t;
    };
    earliest(fleet->next_deadline());
    earliest(serving->next_deadline());
    earliest(next_engine_event());
    if (clock.now() < end_of_load) earliest(next_arrival);
    if (nodes[0].alive) earliest(crash);
    clock.set(std::max(next, clock.now() + 1ns));
  }
  for (const auto& [id, r] : requests)
    if (lost_at && r.arrived > *lost_at && r.failed) ++failed_after_loss;

  // Requests flowed: hundreds at ~20/s through placement, routing, admission and the engines.
  ASSERT_GT(arrivals, 800);
  int done = 0, failed = 0;
  for (const auto& [id, r] : requests) {
    done += r.done;
    failed += r.failed;
  }
  EXPECT_EQ(done, arrivals);  // every request ended exactly once
  EXPECT_EQ(serving->live_requests(), 0);
  // The loss was noticed within the lease, and only requests caught on the dead node failed.
  ASSERT_TRUE(lost_at.has_value());
  EXPECT_LE(*lost_at - crash, FleetOptions{}.node_lease + 2s);
  // Exactly the requests streaming on the dead node's engine failed (a stream that has begun
  // cannot move); every other one, including any that picked the dead replica before the loss
  // was noticed and failed to connect, was served.
  EXPECT_GT(killed_streaming, 0);
  EXPECT_EQ(failed, killed_streaming) << failed << " of " << arrivals << " failed";
  EXPECT_EQ(failed_after_loss, 0);
  EXPECT_GT(arrivals_after_loss, 100);
  // The lost replica was replaced on the surviving node, and the table holds only live ones.
  int ready_on_b = 0;
  for (const auto& [id, r] : fleet->replicas()) {
    EXPECT_NE(r.node, "node-a") << id;
    ready_on_b += r.state == ReplicaState::kReady && r.node == "node-b";
  }
  EXPECT_EQ(ready_on_b, 2);
  const auto& t = fleet->routing_table();
  ASSERT_EQ(t.models.size(), 1u);
  size_t routed = 0;
  for (const auto& rev : t.models[0].revisions)
    routed += rev.replicas.size();
  EXPECT_EQ(routed, 2u);
}

}  // namespace
}  // namespace gf
