// Seeded property tests: random clusters, random sequences of allocate / release / fail /
// recover / cordon / drain / node loss / preempt, with the pool's invariants checked after every
// step. A failure prints the seed and step to reproduce it.
#include <gtest/gtest.h>

#include <random>

#include "common/clock.h"
#include "placement/gpu_picker.h"
#include "placement/scheduler.h"
#include "test_cluster.h"

namespace gf {
namespace {

const char* kModels[] = {"A100-80GB", "H100-80GB", "L40S"};

ClusterSpec random_cluster(std::mt19937_64& rng) {
  ClusterSpec c;
  int nodes = std::uniform_int_distribution<int>(2, 8)(rng);
  for (int i = 0; i < nodes; ++i) {
    int count = std::uniform_int_distribution<int>(1, 8)(rng);
    std::string model = kModels[rng() % 3];
    int64_t mem = model == std::string("L40S") ? 48 : 80;
    std::vector<std::vector<int>> nv;
    switch (rng() % 3) {
      case 0:
        nv = {testing::all(count)};
        break;
      case 1:
        if (count >= 4) nv = {{0, 1}, {2, 3}};
        break;
      default:
        break;  // PCIe only
    }
    if (nv.size() == 1 && count < 2) nv.clear();
    c.nodes.push_back(testing::node("n" + std::to_string(i), model, count, mem, nv));
  }
  return c;
}

AllocationRequest random_request(std::mt19937_64& rng) {
  AllocationRequest r;
  r.deployment = "d" + std::to_string(rng() % 4);
  r.model = "model-" + std::to_string(rng() % 3);
  r.tenant = "t" + std::to_string(rng() % 2);
  r.priority = static_cast<int>(rng() % 5);
  r.allow_reserved = rng() % 4 == 0;
  r.topology = static_cast<TopologyPolicy>(rng() % 3);
  switch (rng() % 5) {
    case 0:
      r.memory_per_gpu = MiB(std::uniform_int_distribution<int64_t>(1, 90)(rng) * 1024);
      break;
    case 1:
      r.compute = MilliGpu(std::uniform_int_distribution<int64_t>(1, 1000)(rng));
      break;
    case 2:
      r.gpus = 1;
      break;
    case 3:
      r.gpus = 2;
      break;
    default:
      r.gpus = static_cast<int>(1 + rng() % 8);
  }
  if (rng() % 3 == 0) r.gpu_models = {kModels[rng() % 3]};
  return r;
}

// Recomputes every GPU's accounting from the live allocations and compares with the pool.
void check_invariants(const Pool& pool, const std::string& where) {
  std::vector<int64_t> mem(pool.gpu_count(), 0), comp(pool.gpu_count(), 0),
      shares(pool.gpu_count(), 0);
  for (const auto& [id, a] : pool.allocations()) {
    if (a.slot.valid()) continue;  // runs inside its slot's capacity
    ASSERT_EQ(a.gpus.size(), static_cast<size_t>(a.request.gpus)) << where;
    for (GpuIndex g : a.gpus) {
      ASSERT_EQ(pool.gpu(g).node, a.node) << where << ": " << to_string(id) << " spans nodes";
      mem[g.value] += a.memory_per_gpu.value;
      comp[g.value] += a.compute_per_gpu.value;
      shares[g.value] += 1;
    }
  }
  for (uint32_t i = 0; i < pool.gpu_count(); ++i) {
    const Gpu& g = pool.gpu(GpuIndex{i});
    ASSERT_EQ(g.memory_committed.value, mem[i]) << where << " GPU " << g.uuid;
    ASSERT_EQ(g.compute_committed.value, comp[i]) << where << " GPU " << g.uuid;
    ASSERT_EQ(g.shares, shares[i]) << where << " GPU " << g.uuid;
    ASSERT_LE(g.memory_committed, g.memory_total) << where << " GPU " << g.uuid << " over capacity";
    ASSERT_LE(g.compute_committed, kWholeGpu) << where;
    ASSERT_LE(g.shares, pool.options().max_shares_per_gpu) << where;
  }
  // The capacity index agrees with a recount.
  for (uint32_t n = 0; n < pool.node_count(); ++n) {
    for (size_t m = 0; m < pool.model_count(); ++m) {
      for (int tier = 0; tier < CapacityIndex::kTiers; ++tier) {
        int empty = 0;
        for (GpuIndex gi : pool.node(NodeIndex{n}).gpus) {
          const Gpu& g = pool.gpu(gi);
          if (g.model.value == m && g.empty() &&
              allows_new_allocation(g.health, g.admin, tier == 1))
            ++empty;
        }
        ASSERT_EQ(
            pool.index().empty_count(NodeIndex{n}, ModelIndex{static_cast<uint16_t>(m)}, tier),
            empty)
            << where;
      }
    }
  }
}

// Brute force: could the request fit some node if every GPU were empty and healthy?
bool feasible_brute_force(const Pool& pool, const AllocationRequest& r) {
  for (uint32_t n = 0; n < pool.node_count(); ++n) {
    const Node& node = pool.node(NodeIndex{n});
    uint64_t mask = 0;
    for (GpuIndex gi : node.gpus) {
      const Gpu& g = pool.gpu(gi);
      const std::string& model = pool.model_name(g.model);
      if (!r.gpu_models.empty() &&
          std::find(r.gpu_models.begin(), r.gpu_models.end(), model) == r.gpu_models.end())
        continue;
      if (r.memory_per_gpu && *r.memory_per_gpu > g.memory_total) continue;
      mask |= uint64_t{1} << g.local_index;
    }
    if (mask != 0 && pick_gpus(node, mask, r.gpus, r.topology).mask != 0) return true;
  }
  return false;
}

struct Snapshot {
  std::vector<std::tuple<int64_t, int64_t, int>> gpus;
  bool operator==(const Snapshot&) const = default;
};
Snapshot snapshot(const Pool& pool) {
  Snapshot s;
  for (uint32_t i = 0; i < pool.gpu_count(); ++i) {
    const Gpu& g = pool.gpu(GpuIndex{i});
    s.gpus.emplace_back(g.memory_committed.value, g.compute_committed.value, g.shares);
  }
  return s;
}

class PoolProperty : public ::testing::TestWithParam<uint64_t> {};

TEST_P(PoolProperty, InvariantsHoldUnderRandomOperations) {
  const uint64_t seed = GetParam();
  std::mt19937_64 rng(seed);
  ManualClock clock;
  ClusterSpec spec = random_cluster(rng);
  auto created = Pool::from_spec(spec, clock.now(), PoolOptions{static_cast<int>(1 + rng() % 6)});
  ASSERT_TRUE(created.ok());
  Pool pool = std::move(*created);
  PlacementSpec ps;
  ps.sample_nodes = static_cast<int>(1 + rng() % 4);
  if (rng() % 2) ps.score_weights = {{"spread", 1}};
  auto sched = Scheduler::create(ps);
  ASSERT_TRUE(sched.ok());
  std::vector<AllocationId> live;

  for (int step = 0; step < 400; ++step) {
    std::string where = "seed " + std::to_string(seed) + " step " + std::to_string(step);
    clock.advance(std::chrono::seconds(1));
    GpuIndex gpu{static_cast<uint32_t>(rng() % pool.gpu_count())};
    switch (rng() % 10) {
      case 0:
      case 1:
      case 2: {  // allocate
        AllocationRequest r = random_request(rng);
        Decision d = sched->place(pool, r);
        if (d.placement) {
          for (GpuIndex g : d.placement->gpus(pool)) {
            ASSERT_TRUE(
                allows_new_allocation(pool.gpu(g).health, pool.gpu(g).admin, r.allow_reserved))
                << where << ": placed on a " << to_string(pool.gpu(g).state()) << " GPU";
          }
          Snapshot before = snapshot(pool);
          auto id = pool.commit(r, d.placement->node, d.placement->gpus(pool), clock.now());
          ASSERT_TRUE(id.ok()) << where
                               << ": placement chose what commit refused: " << id.error().message;
          if (rng() % 4 == 0) {  // release restores the exact prior state
            ASSERT_TRUE(pool.release(*id, clock.now()).ok()) << where;
            ASSERT_EQ(snapshot(pool), before) << where;
          } else {
            live.push_back(*id);
          }
        } else if (d.slot) {
          auto id = pool.bind_slot(*d.slot, r, clock.now());
          if (id) live.push_back(*id);
        } else if (d.preemption) {  // preempt
          for (AllocationId v : d.preemption->victims) {
            ASSERT_LT(pool.allocation(v)->request.priority, r.priority)
                << where << ": preempted an equal or higher priority";
            // A slot in use goes with its replica: the replica first, then the slot.
            if (const AllocationId bound = pool.allocation(v)->bound_replica; bound.valid()) {
              ASSERT_LT(pool.allocation(bound)->request.priority, r.priority) << where;
              ASSERT_TRUE(pool.release(bound, clock.now(), "preempted").ok()) << where;
              live.erase(std::remove(live.begin(), live.end(), bound), live.end());
            }
            ASSERT_TRUE(pool.release(v, clock.now(), "preempted").ok()) << where;
            live.erase(std::remove(live.begin(), live.end(), v), live.end());
          }
          auto id = pool.commit(r, d.preemption->placement.node, d.preemption->placement.gpus(pool),
                                clock.now());
          ASSERT_TRUE(id.ok()) << where
                               << ": preemption plan did not make room: " << id.error().message;
          live.push_back(*id);
        } else {
          ASSERT_NE(d.reason.find("GPUs fit"), std::string::npos) << where << ": " << d.reason;
        }
        if (!d.placed() && d.reason.find("quota") == std::string::npos) {
          ASSERT_EQ(d.code == ErrorCode::kInfeasible, !feasible_brute_force(pool, r))
              << where << ": " << d.reason;
        }
        break;
      }
      case 3:
      case 4:  // release
        if (!live.empty()) {
          size_t i = rng() % live.size();
          ASSERT_TRUE(pool.release(live[i], clock.now()).ok()) << where;
          ASSERT_FALSE(pool.release(live[i], clock.now()).ok()) << where;  // double release refused
          live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
        }
        break;
      case 5:  // fail
        (void)pool.set_health(gpu, rng() % 2 ? Health::kFaulty : Health::kReserved, "random fault",
                              clock.now());
        break;
      case 6: {  // recover, the legal way
        const Gpu& g = pool.gpu(gpu);
        Health next = g.health == Health::kFaulty || g.health == Health::kLost ? Health::kProbation
                                                                               : Health::kHealthy;
        ASSERT_TRUE(pool.set_health(gpu, next, "recovering", clock.now()).ok()) << where;
        break;
      }
      case 7:  // cordon / drain / uncordon
        (void)pool.set_admin(gpu, static_cast<AdminState>(rng() % 3), "operator", clock.now());
        break;
      case 8:
        if (rng() % 8 == 0) {  // node lost: the controller releases what ran there
          NodeIndex n = pool.gpu(gpu).node;
          for (AllocationId id : pool.mark_node_lost(n, "heartbeat timeout", clock.now())) {
            ASSERT_TRUE(pool.release(id, clock.now(), "node lost").ok()) << where;
            live.erase(std::remove(live.begin(), live.end(), id), live.end());
          }
        }
        break;
      default: {  // reservation churn
        AllocationRequest r = random_request(rng);
        auto rid = sched->reserve(pool, r, 1, clock.now());
        if (rid && rng() % 2) {
          ASSERT_TRUE(pool.release_reservation(*rid, clock.now()).ok()) << where;
        }
        break;
      }
    }
    check_invariants(pool, where);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, PoolProperty, ::testing::Range<uint64_t>(1, 41));

}  // namespace
}  // namespace gf
