// The placement filter and score registries: every name builds its plugin, hard rules are
// marked, and the scheduler rejects an unknown name with the list of known ones.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "placement/filter_registry.h"
#include "placement/placement_names.h"
#include "placement/scheduler.h"
#include "placement/score_registry.h"

namespace gf {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(PlacementFilters, EveryRegisteredNameBuildsThePluginOfThatName) {
  EXPECT_THAT(placement_filters().names(),
              ElementsAre("health", "model", "memory", "topology", "tenant-quota"));
  PlacementSpec spec;
  for (const std::string& name : placement_filters().names()) {
    std::unique_ptr<FilterPlugin> p = placement_filters().find(name)->make(spec);
    ASSERT_NE(p, nullptr) << name;
    EXPECT_EQ(p->name(), name);
  }
}

TEST(PlacementFilters, EachFilterJudgesAtOneLevel) {
  PlacementSpec spec;
  auto level = [&](const char* name) {
    std::unique_ptr<FilterPlugin> p = placement_filters().find(name)->make(spec);
    return std::string(dynamic_cast<RequestFilter*>(p.get()) ? "request" : "") +
           (dynamic_cast<GpuFilter*>(p.get()) ? "gpu" : "") +
           (dynamic_cast<NodeFilter*>(p.get()) ? "node" : "");
  };
  EXPECT_EQ(level("health"), "gpu");
  EXPECT_EQ(level("model"), "gpu");
  EXPECT_EQ(level("memory"), "gpu");
  EXPECT_EQ(level("topology"), "node");
  EXPECT_EQ(level("tenant-quota"), "request");
}

TEST(PlacementFilters, HardRulesAreMarked) {
  EXPECT_THAT(required_placement_filters(), ElementsAre("health", "model", "memory", "topology"));
}

TEST(PlacementScores, EveryRegisteredNameBuildsThePluginOfThatName) {
  EXPECT_THAT(placement_scores().names(),
              ElementsAre("binpack", "spread", "replica-spread", "cost-efficiency", "warm-affinity",
                          "model-preference", "topology"));
  PlacementSpec spec;
  for (const std::string& name : placement_scores().names()) {
    std::unique_ptr<ScorePlugin> p = (*placement_scores().find(name))(spec);
    ASSERT_NE(p, nullptr) << name;
    EXPECT_EQ(p->name(), name);
  }
}

TEST(PlacementNames, AreTheRegistriesNames) {
  PlacementNames n = placement_names();
  EXPECT_EQ(n.filters, placement_filters().names());
  EXPECT_EQ(n.required_filters, required_placement_filters());
  EXPECT_EQ(n.scores, placement_scores().names());
}

TEST(Scheduler, UnknownFilterOrScoreListsTheKnownNames) {
  PlacementSpec spec;
  spec.filters.push_back("gravity");
  auto s = Scheduler::create(spec);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.error().message,
            "unknown placement filter \"gravity\"; known: health, model, memory, topology, "
            "tenant-quota");
  spec = {};
  spec.score_weights["luck"] = 1;
  s = Scheduler::create(spec);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(
      s.error().message,
      HasSubstr("unknown placement score \"luck\"; known: binpack, spread, "
                "replica-spread, cost-efficiency, warm-affinity, model-preference, topology"));
}

TEST(Scheduler, EveryScoreCanBeWeighted) {
  PlacementSpec spec;
  for (const std::string& name : placement_scores().names())
    spec.score_weights[name] = 1;
  EXPECT_TRUE(Scheduler::create(spec).ok());
}

}  // namespace
}  // namespace gf
