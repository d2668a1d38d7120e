// The tenant-quota filter: a named, optional filter that turns away a tenant's request when it
// would take the tenant over its GPU quota, and says why.
#include "placement/tenant_quota_filter.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "placement/scheduler.h"
#include "test_cluster.h"

namespace gf {
namespace {

using testing::all;
using testing::node;
using testing::whole;

class TenantQuotaFilterTest : public ::testing::Test {
 protected:
  TenantQuotaFilterTest() {
    ClusterSpec c;
    c.nodes = {node("a", "A100-80GB", 4, 80, {all(4)})};
    auto p = Pool::from_spec(c, clock_.now());
    EXPECT_TRUE(p.ok());
    pool_ = std::make_unique<Pool>(std::move(*p));
    spec_.tenant_quotas["t"] = MilliGpu(2000);
  }
  AllocationRequest of(const std::string& tenant, int gpus) {
    AllocationRequest r = whole(gpus);
    r.tenant = tenant;
    return r;
  }

  ManualClock clock_;
  std::unique_ptr<Pool> pool_;
  PlacementSpec spec_;
};

TEST_F(TenantQuotaFilterTest, AdmitsWithinTheQuotaAndTenantsWithoutOne) {
  TenantQuotaFilter f(spec_);
  AllocationRequest within = of("t", 2);
  EXPECT_TRUE(f.admit(PlacementContext(*pool_, within)).ok());
  AllocationRequest other = of("u", 4);
  EXPECT_TRUE(f.admit(PlacementContext(*pool_, other)).ok());
  AllocationRequest nobody = of("", 4);
  EXPECT_TRUE(f.admit(PlacementContext(*pool_, nobody)).ok());
}

TEST_F(TenantQuotaFilterTest, RejectsOverTheQuotaWithAReadableReason) {
  AllocationRequest r = of("t", 2);
  ASSERT_TRUE(pool_
                  ->commit(r, NodeIndex{0},
                           {pool_->node(NodeIndex{0}).gpus[0], pool_->node(NodeIndex{0}).gpus[1]},
                           clock_.now())
                  .ok());
  TenantQuotaFilter f(spec_);
  Status s = f.admit(PlacementContext(*pool_, r));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnschedulable);  // releasing its replicas would help
  EXPECT_EQ(s.error().message,
            "tenant \"t\" is over its GPU quota: holds 2 GPU, asks 2 GPU, quota 2 GPU");

  AllocationRequest big = of("t", 3);
  s = f.admit(PlacementContext(*pool_, big));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInfeasible);  // over the quota on its own
}

TEST_F(TenantQuotaFilterTest, IsEnforcedOnlyWhenListed) {
  AllocationRequest r = of("t", 3);
  auto with = Scheduler::create(spec_);
  ASSERT_TRUE(with.ok());
  EXPECT_EQ(with->place(*pool_, r).code, ErrorCode::kInfeasible);
  EXPECT_EQ(with->place(*pool_, r).reason,
            "tenant \"t\" is over its GPU quota: holds 0 GPU, asks 3 GPU, quota 2 GPU");

  spec_.filters = {"health", "model", "memory", "topology"};
  auto without = Scheduler::create(spec_);
  ASSERT_TRUE(without.ok());
  EXPECT_TRUE(without->place(*pool_, r).placed());
}

}  // namespace
}  // namespace gf
