// The controller's store writes: the write fence (a controller that lost the store writes
// nothing), writes larger than one transaction, and the writer thread's ordered completions.
#include "controller/store_writer.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>

#include "controller/fleet_persistence.h"
#include "fake_agent.h"
#include "store/sqlite_store.h"

namespace gf {
namespace {

DeploymentSpec deployment(const std::string& name, int replicas) {
  return one_gpu_deployment(name, replicas, replicas);
}

class StoreWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("gf-store-writer-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto s = SqliteStore::open((dir / "state.db").string(),
                               SqliteStoreOptions{&clock, SqliteSync::kNormal});
    ASSERT_TRUE(s.ok()) << s.error().message;
    store = std::move(*s);
    auto f = Fleet::create(PlacementSpec{}, FleetOptions{}, clock.now());
    ASSERT_TRUE(f.ok());
    fleet.emplace(std::move(*f));
  }
  void TearDown() override {
    store.reset();
    std::filesystem::remove_all(dir);
  }
  size_t stored(std::string_view prefix) {
    auto r = store->get_prefix(prefix);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->kvs.size() : 0;
  }

  ManualClock clock;
  std::filesystem::path dir;
  std::unique_ptr<SqliteStore> store;
  std::optional<Fleet> fleet;
};

TEST_F(StoreWriterTest, AControllerFencedOffByANewOwnerWritesNothing) {
  auto mine = claim_store(*store, "controller-a");
  ASSERT_TRUE(mine.ok()) << mine.error().message;
  ASSERT_TRUE(fleet->apply(deployment("one", 1), "m1", clock.now()).ok());
  FleetChanges pending = fleet->take_changes();
  ASSERT_TRUE(persist_changes(*store, *fleet, pending, *mine).ok());
  EXPECT_EQ(stored("/gpufleet/deployments/"), 1u);

  // Another controller takes the store: the first one's next write fails whole and says why.
  ASSERT_TRUE(claim_store(*store, "controller-b").ok());
  ASSERT_TRUE(fleet->apply(deployment("two", 1), "m2", clock.now()).ok());
  pending = fleet->take_changes();
  Status s = persist_changes(*store, *fleet, pending, *mine);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(s.error().message.find("another owner"), std::string::npos) << s.error().message;
  EXPECT_EQ(stored("/gpufleet/deployments/"), 1u);
  EXPECT_FALSE(pending.empty());  // kept whole for the next try
}

TEST_F(StoreWriterTest, WritesLargerThanOneTransactionAllLandAndEachIsFenced) {
  auto fence = claim_store(*store, "controller-a");
  ASSERT_TRUE(fence.ok());
  for (int i = 0; i < 130; ++i)
    ASSERT_TRUE(fleet->apply(deployment("d" + std::to_string(i), 1), "m", clock.now()).ok());
  FleetChanges changes = fleet->take_changes();
  auto txns = plan_writes(*fleet, changes, *fence);
  ASSERT_GT(txns.size(), 1u);
  for (const auto& t : txns) {
    EXPECT_LE(t.success.size(), 100u);
    ASSERT_EQ(t.compare.size(), 1u);
    EXPECT_EQ(t.compare[0].key, kOwnerKey);
  }
  ASSERT_TRUE(run_writes(*store, txns).ok());
  EXPECT_EQ(stored("/gpufleet/deployments/"), 130u);
  EXPECT_EQ(stored("/gpufleet/replicas/"), 130u);  // one Pending replica each
}

TEST_F(StoreWriterTest, BatchesRunInOrderOffTheCallersThreadAndReportThroughPost) {
  auto fence = claim_store(*store, "controller-a");
  ASSERT_TRUE(fence.ok());
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::function<void()>> posted;
  std::vector<std::string> results;
  {
    StoreWriter writer(*store, [&](std::function<void()> f) {
      std::lock_guard lk(mu);
      posted.push_back(std::move(f));
      cv.notify_all();
    });
    ASSERT_TRUE(fleet->apply(deployment("a", 1), "m", clock.now()).ok());
    writer.submit(plan_writes(*fleet, fleet->take_changes(), *fence),
                  [&](Status s) { results.push_back(s.ok() ? "ok" : s.error().message); });
    // A stale fence: this batch fails, and says so through its own callback.
    writer.submit(plan_writes(*fleet, FleetChanges{{}, {"a"}, false},
                              WriteFence{std::string(kOwnerKey), fence->revision + 100}),
                  [&](Status s) { results.push_back(s.ok() ? "ok" : "fenced"); });
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(30), [&] { return posted.size() == 2; }));
  }
  EXPECT_TRUE(results.empty());  // nothing ran on the writer's thread
  for (auto& f : posted)
    f();
  EXPECT_EQ(results, (std::vector<std::string>{"ok", "fenced"}));
  EXPECT_EQ(stored("/gpufleet/deployments/"), 1u);
}

}  // namespace
}  // namespace gf
