// Priority preemption and warm reserves in the Fleet: who gives way to whom, that victims drain
// before their GPUs change hands, what users read in reasons and events, and what a reserve holds
// — with fake agents, a manual clock and seeded randomness.
#include <gtest/gtest.h>

#include <random>

#include "fake_agent.h"
#include "fleet/fleet.h"
#include "pool/summary.h"

namespace gf {
namespace {

using namespace std::chrono_literals;

DeploymentSpec deployment(const std::string& name, int replicas, int priority, int gpus = 1) {
  DeploymentSpec d;
  d.name = name;
  d.model = "model-" + name;
  d.engine.type = EngineType::kEngineSim;
  d.resources.gpus = gpus;
  d.replicas.min = replicas;
  d.replicas.max = 8;
  d.priority = priority;
  return d;
}

class PreemptionTest : public ::testing::Test {
 protected:
  void SetUp() override { make(PlacementSpec{}); }

  void make(const PlacementSpec& placement) {
    auto f = Fleet::create(placement, FleetOptions{}, clock.now());
    ASSERT_TRUE(f.ok()) << f.error().message;
    fleet.emplace(std::move(*f));
  }

  void round(std::vector<FakeAgent*> agents, Duration step = 1s) {
    for (auto* a : agents)
      a->exchange(*fleet, clock.now());
    fleet->tick(clock.now());
    clock.advance(step);
  }

  std::vector<const ReplicaRecord*> in(const std::string& dep, ReplicaState s) const {
    std::vector<const ReplicaRecord*> out;
    for (const auto& [id, r] : fleet->replicas()) {
      if (r.deployment == dep && r.state == s) out.push_back(&r);
    }
    return out;
  }
  int count(const std::string& dep, ReplicaState s) const {
    return static_cast<int>(in(dep, s).size());
  }
  // What a restarted controller has: only what the store holds (deployments, replicas with
  // their states, the generation), read into a new Fleet; the agents keep running as they were.
  void restart_controller() {
    const auto deployments = fleet->deployments();
    const auto replicas = fleet->replicas();
    const int64_t generation = fleet->generation();
    make(PlacementSpec{});
    fleet->restore_generation(generation);
    for (const auto& [name, d] : deployments)
      fleet->restore(d);
    for (const auto& [id, r] : replicas)
      fleet->restore(r, clock.now());
  }
  int events(const std::string& kind) const {
    int n = 0;
    for (const auto& e : fleet->events())
      n += e.kind == kind;
    return n;
  }

  ManualClock clock;
  std::optional<Fleet> fleet;
};

TEST_F(PreemptionTest,
       AHigherPriorityScaleUpDrainsTheFewestLowerPriorityReplicasThenTakesTheirGpus) {
  FakeAgent a{"node-1", 4};
  a.busy_engines = true;  // victims keep serving while they drain
  // The node is full: two 1-GPU replicas of priority 20 and one 2-GPU replica of priority 10.
  ASSERT_TRUE(fleet->apply(deployment("small", 2, 20), "m", clock.now()).ok());
  ASSERT_TRUE(fleet->apply(deployment("big", 1, 10, 2), "m", clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round({&a});
  ASSERT_EQ(count("small", ReplicaState::kReady), 2);
  ASSERT_EQ(count("big", ReplicaState::kReady), 1);
  const std::string victim = in("big", ReplicaState::kReady)[0]->id;
  const std::vector<std::string> victim_gpus = in("big", ReplicaState::kReady)[0]->gpus;

  // Needs 2 GPUs: one victim (big) beats two (small), lower priorities or not.
  ASSERT_TRUE(fleet->apply(deployment("hi", 1, 100, 2), "m", clock.now()).ok());
  const ReplicaRecord& drained = fleet->replicas().at(victim);
  EXPECT_EQ(drained.state, ReplicaState::kDraining);
  EXPECT_EQ(drained.reason, "preempted by hi (priority 100)");
  EXPECT_EQ(count("small", ReplicaState::kReady), 2);
  ASSERT_EQ(count("hi", ReplicaState::kPending), 1);
  const std::string hi = in("hi", ReplicaState::kPending)[0]->id;
  EXPECT_NE(
      fleet->replicas().at(hi).reason.find("preempting 1 lower-priority replica(s): " + victim),
      std::string::npos)
      << fleet->replicas().at(hi).reason;
  ASSERT_EQ(events("Preempted"), 1);
  for (const auto& e : fleet->events()) {
    if (e.kind != "Preempted") continue;
    EXPECT_EQ(e.subject, victim);
    EXPECT_EQ(e.from, "big");
    EXPECT_EQ(e.to, "hi");
    EXPECT_NE(e.reason.find("preempted by hi (priority 100): its replica " + hi), std::string::npos)
        << e.reason;
  }

  // While the victim drains it keeps its GPUs, nobody else is preempted, and hi waits.
  for (int i = 0; i < 4; ++i)
    round({&a});
  EXPECT_EQ(fleet->replicas().at(victim).state, ReplicaState::kDraining);
  EXPECT_EQ(count("small", ReplicaState::kReady), 2);
  EXPECT_EQ(events("Preempted"), 1);
  EXPECT_EQ(fleet->replicas().at(hi).state, ReplicaState::kPending);
  EXPECT_NE(fleet->replicas().at(hi).reason.find("waiting for 1 preempted replica(s) to drain"),
            std::string::npos)
      << fleet->replicas().at(hi).reason;
  // big keeps its target: the replacement waits, saying why.
  ASSERT_EQ(count("big", ReplicaState::kPending), 1);
  EXPECT_EQ(
      in("big", ReplicaState::kPending)[0]->reason.rfind("preempted by hi (priority 100); ", 0), 0u)
      << in("big", ReplicaState::kPending)[0]->reason;

  // The engine goes idle, the agent stops it, and hi lands on exactly the freed GPUs.
  a.busy_engines = false;
  for (int i = 0; i < 4; ++i)
    round({&a});
  EXPECT_EQ(fleet->replicas().count(victim), 0u);
  ASSERT_EQ(count("hi", ReplicaState::kReady), 1);
  EXPECT_EQ(in("hi", ReplicaState::kReady)[0]->gpus, victim_gpus);
  EXPECT_EQ(count("big", ReplicaState::kPending), 1);  // small (20) and hi outrank it
  EXPECT_EQ(count("small", ReplicaState::kReady), 2);
}

// The controller restarts while a victim drains: the new one knows only what the store holds
// (deployments, replicas and their states), not the plan. It must not preempt anyone else, and
// the preemptor still lands once the victim is gone.
TEST_F(PreemptionTest, AControllerRestartWhileAVictimDrainsPreemptsNobodyElse) {
  FakeAgent a{"node-1", 4};
  a.busy_engines = true;
  ASSERT_TRUE(fleet->apply(deployment("small", 2, 20), "m", clock.now()).ok());
  ASSERT_TRUE(fleet->apply(deployment("big", 1, 10, 2), "m", clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round({&a});
  const std::string victim = in("big", ReplicaState::kReady)[0]->id;
  const std::vector<std::string> victim_gpus = in("big", ReplicaState::kReady)[0]->gpus;
  ASSERT_TRUE(fleet->apply(deployment("hi", 1, 100, 2), "m", clock.now()).ok());
  round({&a});
  ASSERT_EQ(fleet->replicas().at(victim).state, ReplicaState::kDraining);

  restart_controller();

  for (int i = 0; i < 6; ++i)
    round({&a});
  EXPECT_EQ(count("small", ReplicaState::kReady), 2) << "a small replica was preempted as well";
  EXPECT_EQ(events("Preempted"), 0);
  ASSERT_TRUE(fleet->replicas().contains(victim));
  EXPECT_EQ(fleet->replicas().at(victim).state, ReplicaState::kDraining);
  a.busy_engines = false;
  for (int i = 0; i < 6; ++i)
    round({&a});
  EXPECT_EQ(fleet->replicas().count(victim), 0u);
  ASSERT_EQ(count("hi", ReplicaState::kReady), 1);
  EXPECT_EQ(in("hi", ReplicaState::kReady)[0]->gpus, victim_gpus);
  EXPECT_EQ(count("small", ReplicaState::kReady), 2);
}

// The same for a scale-down: the replica drains on across the restart, is not replaced, and
// goes once its engine is idle.
TEST_F(PreemptionTest, AControllerRestartMidScaleDownLetsTheDrainFinish) {
  FakeAgent a{"node-1", 4};
  a.busy_engines = true;
  ASSERT_TRUE(fleet->apply(deployment("web", 1, 0), "m", clock.now()).ok());
  ASSERT_TRUE(fleet->scale("web", 3, clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round({&a});
  ASSERT_EQ(count("web", ReplicaState::kReady), 3);
  ASSERT_TRUE(fleet->scale("web", 2, clock.now()).ok());
  round({&a});
  ASSERT_EQ(count("web", ReplicaState::kDraining), 1);
  const std::string draining = in("web", ReplicaState::kDraining)[0]->id;
  restart_controller();
  for (int i = 0; i < 4; ++i)
    round({&a});
  EXPECT_EQ(fleet->replicas().at(draining).state, ReplicaState::kDraining);
  EXPECT_EQ(count("web", ReplicaState::kReady), 2);
  EXPECT_EQ(count("web", ReplicaState::kPending) + count("web", ReplicaState::kPlaced) +
                count("web", ReplicaState::kStarting),
            0)
      << "the draining replica was replaced";
  a.busy_engines = false;
  for (int i = 0; i < 4; ++i)
    round({&a});
  EXPECT_EQ(fleet->replicas().count(draining), 0u);
  EXPECT_EQ(count("web", ReplicaState::kReady), 2);
  EXPECT_EQ(static_cast<int>(fleet->replicas().size()), 2);
}

TEST_F(PreemptionTest, EqualOrHigherPriorityIsNeverPreempted) {
  FakeAgent a{"node-1", 2};
  ASSERT_TRUE(fleet->apply(deployment("a", 2, 100), "m", clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round({&a});
  ASSERT_TRUE(fleet->apply(deployment("same", 1, 100), "m", clock.now()).ok());
  ASSERT_TRUE(fleet->apply(deployment("lower", 1, 50), "m", clock.now()).ok());
  for (int i = 0; i < 5; ++i)
    round({&a});
  EXPECT_EQ(count("a", ReplicaState::kReady), 2);
  EXPECT_EQ(count("same", ReplicaState::kPending), 1);
  EXPECT_EQ(count("lower", ReplicaState::kPending), 1);
  EXPECT_EQ(events("Preempted"), 0);
  EXPECT_NE(in("same", ReplicaState::kPending)[0]->reason.find("0/2 GPUs fit"), std::string::npos)
      << in("same", ReplicaState::kPending)[0]->reason;
}

TEST_F(PreemptionTest, NothingIsPreemptedWhenTheReplicaFitsElsewhere) {
  FakeAgent a{"node-1", 2};
  ASSERT_TRUE(fleet->apply(deployment("low", 2, 0), "m", clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round({&a});
  FakeAgent b{"node-2", 2};
  b.agent_id = "agent-2";
  round({&a, &b});
  ASSERT_TRUE(fleet->apply(deployment("hi", 2, 100), "m", clock.now()).ok());
  EXPECT_EQ(count("hi", ReplicaState::kPlaced), 2);
  for (const auto* r : in("hi", ReplicaState::kPlaced))
    EXPECT_EQ(r->node, "node-2");
  EXPECT_EQ(count("low", ReplicaState::kReady), 2);
  EXPECT_EQ(events("Preempted"), 0);
}

TEST_F(PreemptionTest, AReplicaOverItsTenantsQuotaPreemptsNobody) {
  PlacementSpec placement;
  placement.tenant_quotas = {{"team", MilliGpu{1000}}};
  make(placement);
  FakeAgent a{"node-1", 2};
  ASSERT_TRUE(fleet->apply(deployment("low", 1, 0), "m", clock.now()).ok());
  DeploymentSpec hi = deployment("hi", 1, 100);
  hi.owner = "team";
  ASSERT_TRUE(fleet->apply(hi, "m", clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round({&a});
  ASSERT_EQ(count("hi", ReplicaState::kReady), 1);
  ASSERT_TRUE(fleet->scale("hi", 2, clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round({&a});
  EXPECT_EQ(count("low", ReplicaState::kReady), 1);
  ASSERT_EQ(count("hi", ReplicaState::kPending), 1);
  EXPECT_NE(in("hi", ReplicaState::kPending)[0]->reason.find("over its GPU quota"),
            std::string::npos)
      << in("hi", ReplicaState::kPending)[0]->reason;
  EXPECT_EQ(events("Preempted"), 0);
}

TEST_F(PreemptionTest, ARolloutThatRaisesPriorityDoesNotPreemptItsOwnOldRevision) {
  FakeAgent a{"node-1", 2};
  ASSERT_TRUE(fleet->apply(deployment("web", 2, 0), "m", clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round({&a});
  // A new revision (priority is part of it) surges one replica; the node is full.
  ASSERT_TRUE(fleet->apply(deployment("web", 2, 100), "m2", clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round({&a});
  EXPECT_EQ(events("Preempted"), 0);
  EXPECT_EQ(count("web", ReplicaState::kReady), 2);
}

// ---- warm reserve

TEST_F(PreemptionTest, AReserveHoldsGpusOthersCannotTakeAndTheOwnersScaleUpUsesThem) {
  FakeAgent a{"node-1", 4};
  round({&a});  // the node is known: the reserve is held when the deployment is applied
  DeploymentSpec burst = deployment("burst", 1, 0);
  burst.reserve_replicas = 1;
  ASSERT_TRUE(fleet->apply(burst, "m", clock.now()).ok());
  ASSERT_TRUE(fleet->apply(deployment("other", 3, 0), "m", clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round({&a});
  EXPECT_EQ(count("burst", ReplicaState::kReady), 1);
  EXPECT_EQ(count("other", ReplicaState::kReady), 2);
  EXPECT_EQ(count("other", ReplicaState::kPending), 1);  // the fourth GPU is burst's headroom
  EXPECT_EQ(summarize(fleet->pool()).total.reserved, 1);
  EXPECT_EQ(summarize(fleet->pool()).total.idle, 0);

  // A burst starts at once in the reserve, ahead of other's older pending replica.
  ASSERT_TRUE(fleet->scale("burst", 2, clock.now()).ok());
  ASSERT_EQ(count("burst", ReplicaState::kPlaced), 1);
  EXPECT_NE(in("burst", ReplicaState::kPlaced)[0]->reason.find("from its warm reserve"),
            std::string::npos);
  EXPECT_EQ(summarize(fleet->pool()).total.reserved, 0);  // no free GPU to hold a new slot yet

  // Scaling back frees the replica; its GPU goes back to the reserve, not to other.
  ASSERT_TRUE(fleet->scale("burst", 1, clock.now()).ok());
  for (int i = 0; i < 3; ++i)
    round({&a});
  EXPECT_EQ(count("other", ReplicaState::kPending), 1);
  EXPECT_EQ(summarize(fleet->pool()).total.reserved, 1);

  // Deleting the deployment gives its GPUs back: other's last replica lands.
  ASSERT_TRUE(fleet->remove_deployment("burst", clock.now()).ok());
  EXPECT_EQ(summarize(fleet->pool()).total.reserved, 0);
  for (int i = 0; i < 3; ++i)
    round({&a});
  EXPECT_EQ(count("other", ReplicaState::kReady), 3);
}

// A replica running in its deployment's warm-reserve slot frees nothing alone (the slot keeps the
// GPU), so it used to be spared: a higher priority that needed its GPU waited for ever. It is
// preempted with its slot: it drains, then the slot goes, and the preemptor lands there.
TEST_F(PreemptionTest, AReplicaInAWarmReserveSlotIsPreemptedWithItsSlot) {
  FakeAgent a{"node-1", 2};
  a.busy_engines = true;
  round({&a});
  DeploymentSpec low = deployment("low", 1, 0);
  low.reserve_replicas = 1;
  ASSERT_TRUE(fleet->apply(low, "m", clock.now()).ok());
  for (int i = 0; i < 2; ++i)
    round({&a});
  ASSERT_TRUE(fleet->scale("low", 2, clock.now()).ok());  // the burst takes the reserve slot
  for (int i = 0; i < 3; ++i)
    round({&a});
  ASSERT_EQ(count("low", ReplicaState::kReady), 2);
  std::string in_slot;
  for (const ReplicaRecord* r : in("low", ReplicaState::kReady)) {
    const Allocation* held = fleet->pool().allocation(r->allocation);
    if (held != nullptr && held->slot.valid()) in_slot = r->id;
  }
  ASSERT_FALSE(in_slot.empty()) << "the test needs a replica in a slot";

  // hi needs both GPUs: one of them is the slot's.
  ASSERT_TRUE(fleet->apply(deployment("hi", 1, 100, 2), "m", clock.now()).ok());
  EXPECT_EQ(count("low", ReplicaState::kDraining), 2);
  bool named = false;
  for (const auto& e : fleet->events())
    named = named || (e.kind == "Preempted" && e.subject == in_slot &&
                      e.reason.find("its warm-reserve slot goes with it") != std::string::npos);
  EXPECT_TRUE(named);
  for (int i = 0; i < 3; ++i)
    round({&a});
  EXPECT_EQ(count("hi", ReplicaState::kPending), 1);  // while the victims drain

  a.busy_engines = false;
  for (int i = 0; i < 6; ++i)
    round({&a});
  ASSERT_EQ(count("hi", ReplicaState::kReady), 1);
  EXPECT_EQ(in("hi", ReplicaState::kReady)[0]->gpus.size(), 2u);
  EXPECT_EQ(summarize(fleet->pool()).total.reserved, 0);
  EXPECT_EQ(count("low", ReplicaState::kPending), 2);  // low keeps its target, and waits
}

TEST_F(PreemptionTest, AReserveFollowsItsSpecAndAHigherPriorityTakesOnlyItsIdleSlots) {
  FakeAgent a{"node-1", 4};
  DeploymentSpec low = deployment("low", 1, 0);
  low.reserve_replicas = 3;
  ASSERT_TRUE(fleet->apply(low, "m", clock.now()).ok());
  round({&a});
  EXPECT_EQ(summarize(fleet->pool()).total.reserved, 3);
  low.reserve_replicas = 2;  // not a new revision: the reserve just shrinks
  ASSERT_TRUE(fleet->apply(low, "m", clock.now()).ok());
  EXPECT_EQ(summarize(fleet->pool()).total.reserved, 2);

  // One GPU is free; a higher priority wanting three takes it, then the idle slots at once,
  // without draining the running replica of the same priority as the slots.
  ASSERT_TRUE(fleet->apply(deployment("hi", 3, 100), "m", clock.now()).ok());
  EXPECT_EQ(count("hi", ReplicaState::kPlaced), 3);
  EXPECT_EQ(events("Preempted"), 2);
  EXPECT_EQ(summarize(fleet->pool()).total.reserved, 0);
  // The reserve does not win its GPUs back, and low keeps serving.
  for (int i = 0; i < 3; ++i)
    round({&a});
  EXPECT_EQ(count("hi", ReplicaState::kReady), 3);
  EXPECT_EQ(count("low", ReplicaState::kReady), 1);
  EXPECT_EQ(summarize(fleet->pool()).total.reserved, 0);
}

// ---- property: no double allocation; a higher priority never waits on lower priorities

// Whether `r` would fit if every replica that may give way to it did (strictly lower priority,
// another deployment, not running in its own deployment's reserve slot) and every idle slot of a
// lower priority were released.
bool fits_if_lower_gave_way(const Fleet& f, const ReplicaRecord& r, const Scheduler& sched,
                            TimePoint now) {
  const DeploymentSpec& spec = f.deployments().at(r.deployment).spec;
  Pool p = f.pool();
  for (const auto& [id, x] : f.replicas()) {
    if (!x.allocation.valid() || x.deployment == r.deployment) continue;
    const Allocation* a = p.allocation(x.allocation);
    if (a == nullptr || a->slot.valid() || a->request.priority >= spec.priority) continue;
    auto d = f.deployments().find(x.deployment);
    if (d != f.deployments().end() && d->second.spec.priority >= spec.priority) continue;
    (void)p.release(x.allocation, now);
  }
  std::vector<AllocationId> slots;
  for (const auto& [id, a] : p.allocations()) {
    if (a.is_slot() && !a.bound_replica.valid() && a.request.priority < spec.priority)
      slots.push_back(id);
  }
  for (AllocationId s : slots)
    (void)p.release(s, now);
  return sched.place(p, request_for(spec, spec.owner), PlaceOptions{false, false}).placed();
}

TEST(FleetPreemptionProperty, NoGpuIsHeldTwiceAndNoHigherPriorityWaitsOnLowerOnes) {
  auto sched = Scheduler::create(PlacementSpec{});
  ASSERT_TRUE(sched.ok());
  int preempted = 0;  // across seeds: the runs must exercise preemption, not just avoid it
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    ManualClock clock;
    auto f = Fleet::create(PlacementSpec{}, FleetOptions{}, clock.now());
    ASSERT_TRUE(f.ok());
    std::mt19937_64 rng(seed);
    std::vector<FakeAgent> agents = {{"node-1", 4}, {"node-2", 4}, {"node-3", 2}};
    for (size_t i = 0; i < agents.size(); ++i)
      agents[i].agent_id = "agent-" + std::to_string(i);
    const int priorities[] = {0, 50, 100};

    auto check_no_double_allocation = [&](int step) {
      std::map<std::string, std::string> holder;  // GPU -> replica
      for (const auto& [id, r] : f->replicas()) {
        if (r.state == ReplicaState::kPending || r.state == ReplicaState::kStopped ||
            r.state == ReplicaState::kFailed)
          continue;
        for (const auto& g : r.gpus) {
          auto [it, fresh] = holder.emplace(g, id);
          EXPECT_TRUE(fresh) << "seed " << seed << " step " << step << ": " << g << " held by "
                             << it->second << " and " << id;
        }
      }
      for (const auto& [aid, a] : f->pool().allocations()) {
        if (!a.is_slot() || a.bound_replica.valid()) continue;
        for (GpuIndex gi : a.gpus) {
          EXPECT_EQ(holder.count(f->pool().gpu(gi).uuid), 0u)
              << "seed " << seed << " step " << step << ": a replica runs on idle reserve GPU "
              << f->pool().gpu(gi).uuid;
        }
      }
      for (size_t g = 0; g < f->pool().gpu_count(); ++g) {
        const Gpu& gpu = f->pool().gpu(GpuIndex{static_cast<uint32_t>(g)});
        EXPECT_LE(gpu.shares, 1) << "seed " << seed << " step " << step << " " << gpu.uuid;
      }
    };
    auto round = [&](int step) {
      for (auto& a : agents)
        a.exchange(*f, clock.now());
      f->tick(clock.now());
      clock.advance(std::chrono::milliseconds(500 + rng() % 1500));
      check_no_double_allocation(step);
    };

    for (int step = 0; step < 80; ++step) {
      const std::string name = "d" + std::to_string(rng() % 4);
      switch (rng() % 5) {
        case 0:
        case 1: {
          DeploymentSpec d = deployment(name, 1 + static_cast<int>(rng() % 3),
                                        priorities[rng() % 3], 1 + static_cast<int>(rng() % 2));
          d.reserve_replicas = rng() % 4 == 0 ? 1 : 0;
          (void)f->apply(d, "m", clock.now());
          break;
        }
        case 2:
          (void)f->scale(name, 1 + static_cast<int>(rng() % 4), clock.now());
          break;
        case 3:
          (void)f->remove_deployment(name, clock.now());
          break;
        default:
          for (auto& a : agents)
            a.busy_engines = rng() % 2 == 0;
          break;
      }
      round(step);
    }
    // Quiet: engines go idle, drains finish. Within a bounded number of rounds every pending
    // replica waits only on GPUs that equal or higher priorities hold.
    for (auto& a : agents)
      a.busy_engines = false;
    for (int step = 80; step < 110; ++step)
      round(step);
    for (const auto& e : f->events())
      preempted += e.kind == "Preempted";
    for (const auto& [id, r] : f->replicas()) {
      if (r.state != ReplicaState::kPending) continue;
      EXPECT_FALSE(fits_if_lower_gave_way(*f, r, *sched, clock.now()))
          << "seed " << seed << ": " << id << " (priority "
          << f->deployments().at(r.deployment).spec.priority << ") still waits: " << r.reason;
    }
  }
  EXPECT_GT(preempted, 50);
}

}  // namespace
}  // namespace gf
