// The routing table's JSON form: per-replica ready/draining default to true/false, so a table from
// an older controller (which sends neither) reads as all replicas Ready; the engine load is
// written only when known and reads as unknown when absent.
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

TEST(RoutingTableJson, RestartsRoundTripAndDefaultToZero) {
  RouteReplica restarted{"a", "h:1"};
  restarted.restarts = 2;
  RoutingTable t{5,
                 {RouteModel{.model = "llama",
                             .revisions = {RouteRevision{"v1", 1, {restarted, {"b", "h:2"}}}}}}};
  const std::string json = wire::to_json(t);
  EXPECT_EQ(json.find(R"("id":"b","restarts")"), std::string::npos) << json;
  auto back = wire::parse_routing_table(json);
  ASSERT_TRUE(back.ok()) << back.error().describe();
  EXPECT_EQ(back->models.at(0).revisions.at(0).replicas.at(0).restarts, 2);
  EXPECT_EQ(back->models.at(0).revisions.at(0).replicas.at(1).restarts, 0);
}

TEST(RoutingTableJson, EngineLoadRoundTripsAndAbsentIsUnknown) {
  RouteReplica known{"a", "h:1"};
  known.kv_cache_usage = 0.42;
  known.queue_length = 3;
  RouteReplica zero{"b", "h:2"};
  zero.kv_cache_usage = 0.0;
  zero.queue_length = 0;
  RoutingTable t{4,
                 {RouteModel{.model = "llama",
                             .revisions = {RouteRevision{"v1", 1, {known, zero, {"c", "h:3"}}}}}}};
  const std::string json = wire::to_json(t);
  auto back = wire::parse_routing_table(json);
  ASSERT_TRUE(back.ok()) << back.error().describe();
  const auto& replicas = back->models.at(0).revisions.at(0).replicas;
  EXPECT_EQ(replicas.at(0).kv_cache_usage, 0.42);
  EXPECT_EQ(replicas.at(0).queue_length, 3);
  // Zero is a value ...
  EXPECT_EQ(replicas.at(1).kv_cache_usage, 0.0);
  EXPECT_EQ(replicas.at(1).queue_length, 0);
  // ... and unknown is absent, on the wire and back.
  EXPECT_EQ(json.find(R"("id":"c","kvCacheUsage")"), std::string::npos) << json;
  EXPECT_FALSE(replicas.at(2).kv_cache_usage.has_value());
  EXPECT_FALSE(replicas.at(2).queue_length.has_value());
}

TEST(RoutingTableJson, AnEngineLoadOutOfRangeIsUnknownNotARefusedTable) {
  auto t = wire::parse_routing_table(R"({"version": 7, "models": [{"model": "llama",
      "revisions": [{"revision": "v1", "weight": 1, "replicas": [
        {"id": "a", "address": "h:1", "kvCacheUsage": 1.5, "queueLength": -2}]}]}]})");
  ASSERT_TRUE(t.ok()) << t.error().describe();
  const auto& a = t->models.at(0).revisions.at(0).replicas.at(0);
  EXPECT_FALSE(a.kv_cache_usage.has_value());
  EXPECT_FALSE(a.queue_length.has_value());
}

TEST(RoutingTableJson, SpeedRoundTripsAndAnUnusableOneMeansEqual) {
  RouteReplica slow{"a", "h:1"};
  slow.speed = 0.45;
  RoutingTable t{
      6,
      {RouteModel{.model = "llama", .revisions = {RouteRevision{"v1", 1, {slow, {"b", "h:2"}}}}}}};
  const std::string json = wire::to_json(t);
  EXPECT_EQ(json.find(R"("id":"b","address":"h:2","speed")"), std::string::npos)
      << "a full-speed replica reads as before: " << json;
  auto back = wire::parse_routing_table(json);
  ASSERT_TRUE(back.ok()) << back.error().describe();
  EXPECT_DOUBLE_EQ(back->models.at(0).revisions.at(0).replicas.at(0).speed, 0.45);
  EXPECT_EQ(back->models.at(0).revisions.at(0).replicas.at(1).speed, 1.0);
  auto odd = wire::parse_routing_table(R"({"version": 1, "models": [{"model": "llama",
      "revisions": [{"revision": "v1", "weight": 1, "replicas": [
        {"id": "a", "address": "h:1", "speed": 0}, {"id": "b", "address": "h:2", "speed": 7}]}]}]})");
  ASSERT_TRUE(odd.ok()) << odd.error().describe();
  for (const RouteReplica& r : odd->models.at(0).revisions.at(0).replicas)
    EXPECT_EQ(r.speed, 1.0) << r.id;
  auto bad = wire::parse_routing_table(R"({"version": 1, "models": [{"model": "llama",
      "revisions": [{"revision": "v1", "weight": 1, "replicas": [
        {"id": "a", "address": "h:1", "speed": "fast"}]}]}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("models[0].revisions[0]"), std::string::npos)
      << bad.error().message;
}

}  // namespace
}  // namespace gf
