// The routing table's JSON form: per-replica ready/draining default to true/false, so a table from
// an older controller (which sends neither) reads as all replicas Ready.
#include "wire/routing_table_json.h"

#include <gtest/gtest.h>

namespace gf {
namespace {

TEST(RoutingTableJson, ReadyAndDrainingDefaultForOlderControllers) {
  auto t = wire::parse_routing_table(R"({"version": 7, "models": [{"model": "llama",
      "revisions": [{"revision": "v1", "weight": 1, "replicas": [
        {"id": "a", "address": "h:1"},
        {"id": "b", "address": "h:2", "ready": false, "draining": true}]}]}]})");
  ASSERT_TRUE(t.ok()) << t.error().describe();
  const auto& replicas = t->models.at(0).revisions.at(0).replicas;
  EXPECT_TRUE(replicas.at(0).ready);
  EXPECT_FALSE(replicas.at(0).draining);
  EXPECT_FALSE(replicas.at(1).ready);
  EXPECT_TRUE(replicas.at(1).draining);
}

TEST(RoutingTableJson, RoundTripWritesOnlyWhatDiffersFromTheDefaults) {
  RoutingTable t{3,
                 {RouteModel{.model = "llama",
                             .revisions = {RouteRevision{
                                 "v1", 1, {{"a", "h:1"}, {"b", "h:2", false, true}}}}}}};
  const std::string json = wire::to_json(t);
  EXPECT_EQ(json.find("\"ready\":true"), std::string::npos);  // a Ready replica reads as before
  auto back = wire::parse_routing_table(json);
  ASSERT_TRUE(back.ok());
  const auto& replicas = back->models.at(0).revisions.at(0).replicas;
  EXPECT_TRUE(replicas.at(0).ready);
  EXPECT_FALSE(replicas.at(1).ready);
  EXPECT_TRUE(replicas.at(1).draining);
}

}  // namespace
}  // namespace gf
