// The agent <-> controller messages: round trips, errors that name the field, version checks, and
// the agent side's rule that an older reply never undoes a newer one.
#include "wire/agent_protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/controller_link.h"
#include "gpu/fake_provider.h"

namespace gf::wire {
namespace {

NodeReport sample_beat() {
  NodeReport h;
  h.node = "node-1";
  h.agent_id = "abc";
  h.seq = 7;
  h.host = "10.0.0.1";
  h.port = 9100;
  h.labels = {{"zone", "a"}};
  h.nvlink_groups = {{0, 1}};
  h.gpus.push_back(
      GpuReport{"GPU-1", 0, "A100-80GB", MiB{81920}, Health::kHealthy, "", 55, 61, 300, MiB{1024}});
  h.replicas.push_back(ReplicaReport{"r-1", 4, ReplicaProcessState::kReady, "ok", 20001, 2});
  h.events.push_back(HealthEventReport{"GPU-1", Health::kHealthy, Health::kSuspect, "hot"});
  h.applied_generation = 4;
  return h;
}

TEST(AgentProtocol, HeartbeatRoundTripsEveryField) {
  NodeReport h = sample_beat();
  auto back = parse_node_report(to_json(h));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->node, "node-1");
  EXPECT_EQ(back->seq, 7u);
  EXPECT_EQ(back->labels.at("zone"), "a");
  EXPECT_EQ(back->nvlink_groups, h.nvlink_groups);
  ASSERT_EQ(back->gpus.size(), 1u);
  EXPECT_EQ(back->gpus[0].memory.value, 81920);
  EXPECT_EQ(back->gpus[0].utilization_pct, 55);
  EXPECT_EQ(back->gpus[0].memory_used.value, 1024);
  ASSERT_EQ(back->replicas.size(), 1u);
  EXPECT_EQ(back->replicas[0].port, 20001);
  EXPECT_EQ(back->replicas[0].generation, 4);
  ASSERT_EQ(back->events.size(), 1u);
  EXPECT_EQ(back->events[0].to, Health::kSuspect);
  EXPECT_EQ(back->gpus[0].health, Health::kHealthy);
  EXPECT_EQ(back->replicas[0].state, ReplicaProcessState::kReady);
  EXPECT_EQ(back->applied_generation, 4);
}

TEST(AgentProtocol, AReplicasEngineLoadRoundTripsWithOnlyItsKnownFields) {
  NodeReport h = sample_beat();
  ReplicaLoad l;
  l.running = 3;
  l.waiting = 0;
  l.kv_cache_usage = 0.42;
  l.prompt_tokens = Tokens(123456789012);
  l.ttft_counts = {0, 4, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 12345678901234};
  l.queue_counts = {14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  l.age = std::chrono::milliseconds(850);
  h.replicas[0].load = l;
  h.replicas.push_back(ReplicaReport{"r-2", 4, ReplicaProcessState::kReady, "", 20002, 0});
  const std::string text = to_json(h);
  EXPECT_EQ(text.find("generationTokens"), std::string::npos) << text;  // unknown: absent
  auto back = parse_node_report(text);
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_TRUE(back->replicas[0].load.has_value());
  EXPECT_EQ(*back->replicas[0].load, l);
  // A replica without a reading sends no load at all, and reads back as unknown.
  EXPECT_EQ(text.find("load"), text.rfind("load")) << text;
  EXPECT_FALSE(back->replicas[1].load.has_value());
}

TEST(AgentProtocol, AnOlderAgentsHeartbeatReadsAsUnknownLoad) {
  auto old = parse_node_report(R"({"version":1,"node":"n","agentId":"a","seq":1,"host":"h",
      "replicas":[{"id":"r","state":"Ready","port":1}]})");
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_FALSE(old->replicas[0].load.has_value());
  // And an older controller ignores the field: the load is one more key in a replica object, so
  // the replica's other fields are where they always were.
  NodeReport h = sample_beat();
  h.replicas[0].load = ReplicaLoad{.running = 1};
  auto j = nlohmann::json::parse(to_json(h));
  EXPECT_EQ(j["replicas"][0]["id"], "r-1");
  EXPECT_EQ(j["replicas"][0]["port"], 20001);
  EXPECT_EQ(j["replicas"][0]["load"]["running"], 1);
}

TEST(AgentProtocol, ABadLoadIsRefusedNamingTheField) {
  auto beat = [](const std::string& load) {
    return parse_node_report(R"({"version":1,"node":"n","agentId":"a","seq":1,"host":"h",
        "replicas":[{"id":"r","state":"Ready"},{"id":"s","state":"Ready","load":)" +
                             load + "}]}");
  };
  auto kv = beat(R"({"running":1,"kvCacheUsage":1.5})");
  ASSERT_FALSE(kv.ok());
  EXPECT_NE(kv.error().message.find("replicas[1].load.kvCacheUsage: must be within 0..1"),
            std::string::npos)
      << kv.error().message;
  auto negative = beat(R"({"waiting":-1})");
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.error().message.find("replicas[1].load.waiting: must not be negative"),
            std::string::npos)
      << negative.error().message;
  auto short_ttft = beat(R"({"ttftCounts":[1,2,3]})");
  ASSERT_FALSE(short_ttft.ok());
  EXPECT_NE(short_ttft.error().message.find(
                "replicas[1].load.ttftCounts: must be an array of 13 whole numbers"),
            std::string::npos)
      << short_ttft.error().message;
  auto negative_ttft = beat(R"({"ttftCounts":[0,0,0,-2,0,0,0,0,0,0,0,0,0]})");
  ASSERT_FALSE(negative_ttft.ok());
  EXPECT_NE(negative_ttft.error().message.find(
                "replicas[1].load.ttftCounts: element 3 must be a whole number, not negative "
                "(it is -2)"),
            std::string::npos)
      << negative_ttft.error().message;
  auto short_queue = beat(R"({"queueCounts":[0,0,0,0,0,0,0,0,0,0,0,0,0,0]})");
  ASSERT_FALSE(short_queue.ok());
  EXPECT_NE(short_queue.error().message.find(
                "replicas[1].load.queueCounts: must be an array of 13 whole numbers"),
            std::string::npos)
      << short_queue.error().message;
  auto text = beat(R"({"running":"three"})");
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error().message.find("replicas[1].load.running"), std::string::npos);
  EXPECT_FALSE(beat("[1]").ok());
  // An agent from before queue times sends TTFT counts alone: read, with the queue time unknown.
  auto older = beat(R"({"running":1,"ttftCounts":[0,0,0,0,0,0,0,0,0,0,0,0,7]})");
  ASSERT_TRUE(older.ok()) << older.error().message;
  ASSERT_TRUE(older->replicas[1].load.has_value());
  EXPECT_EQ(older->replicas[1].load->ttft_counts.back(), 7u);
  EXPECT_TRUE(older->replicas[1].load->queue_counts.empty());
  auto empty = beat("{}");  // a reading with nothing known is still a reading
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_TRUE(empty->replicas[1].load.has_value());
}

TEST(AgentProtocol, ReplyRoundTripsAssignments) {
  NodeAssignment r;
  r.generation = 12;
  ReplicaAssignment a;
  a.id = "llama-c";
  a.generation = 11;
  a.model = "m";
  a.engine = EngineType::kVllm;
  a.args = {"--x"};
  a.env = {{"A", "1"}};
  a.gpus = {"GPU-1", "GPU-2"};
  a.memory_fraction = 0.25;
  a.performance = PerformanceSpec{1, 2, 0, 3, 4, 0};
  r.replicas.push_back(a);
  r.heartbeat_interval = std::chrono::milliseconds(500);
  auto back = parse_node_assignment(to_json(r));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->generation, 12);
  EXPECT_EQ(back->heartbeat_interval, std::chrono::milliseconds(500));
  ASSERT_EQ(back->replicas.size(), 1u);
  EXPECT_EQ(back->replicas[0].engine, EngineType::kVllm);
  EXPECT_EQ(back->replicas[0].gpus, a.gpus);
  EXPECT_DOUBLE_EQ(back->replicas[0].memory_fraction, 0.25);
  ASSERT_TRUE(back->replicas[0].performance.has_value());
  EXPECT_DOUBLE_EQ(back->replicas[0].performance->decode_per_seq_ms, 4);
  EXPECT_FALSE(back->replicas[0].max_batched_tokens.has_value());  // the engine's own default

  r.replicas[0].max_batched_tokens = Tokens(624);
  auto budget = parse_node_assignment(to_json(r));
  ASSERT_TRUE(budget.ok()) << budget.error().message;
  ASSERT_TRUE(budget->replicas[0].max_batched_tokens.has_value());
  EXPECT_EQ(budget->replicas[0].max_batched_tokens->value, 624);
  std::string zero = to_json(r);
  zero.replace(zero.find("624"), 3, "0");
  auto refused = parse_node_assignment(zero);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("maxBatchedTokens: must be a positive number of tokens"),
            std::string::npos)
      << refused.error().message;
}

TEST(AgentProtocol, ADrainingAssignmentCarriesItsFlagAndTimeoutAndOldRepliesReadAsBefore) {
  NodeAssignment r;
  r.generation = 3;
  ReplicaAssignment a;
  a.id = "llama-d";
  a.model = "m";
  a.gpus = {"GPU-1"};
  r.replicas.push_back(a);
  a.id = "llama-e";
  a.draining = true;
  a.drain_timeout = std::chrono::milliseconds(12500);
  r.replicas.push_back(a);
  const std::string text = to_json(r);
  // Only draining entries name the new fields.
  EXPECT_EQ(text.find("draining"), text.rfind("draining"));
  auto back = parse_node_assignment(text);
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->replicas.size(), 2u);
  EXPECT_FALSE(back->replicas[0].draining);
  EXPECT_TRUE(back->replicas[1].draining);
  EXPECT_EQ(back->replicas[1].drain_timeout, std::chrono::milliseconds(12500));
  auto old = parse_node_assignment(
      R"({"version":1,"generation":2,"replicas":[{"id":"x","model":"m","gpus":["GPU-1"]}]})");
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_FALSE(old->replicas[0].draining);
}

TEST(AgentProtocol, ErrorsNameTheField) {
  auto bad = parse_node_report(R"({"version":1,"node":"n","agentId":"a","seq":1,"host":"h",
      "gpus":[{"uuid":"GPU-1","name":"A100","memoryMiB":1},{"uuid":5,"name":"x","memoryMiB":1}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("gpus[1].uuid"), std::string::npos) << bad.error().message;
  auto missing = parse_node_report(R"({"version":1,"agentId":"a","seq":1,"host":"h"})");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("node: is required"), std::string::npos);
  auto version = parse_node_report(R"({"version":2,"node":"n"})");
  ASSERT_FALSE(version.ok());
  EXPECT_NE(version.error().message.find("version 2"), std::string::npos);
  EXPECT_FALSE(parse_node_report("not json").ok());
  auto engine = parse_node_assignment(
      R"({"version":1,"generation":1,"replicas":[{"id":"r","model":"m","gpus":["g"],"engine":"tgi"}]})");
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.error().message.find("unknown engine \"tgi\""), std::string::npos);
}

// The controller reads heartbeats with simdjson (#18): every type mismatch still names its field
// and says what was sent, and what older readers took (a number written as 2.0) still reads.
TEST(AgentProtocol, WrongTypesNameTheFieldAndWhatWasSent) {
  auto beat = [](const std::string& extra) {
    return parse_node_report(R"({"version":1,"node":"n","agentId":"a","seq":1,"host":"h")" + extra +
                             "}");
  };
  auto expect_error = [&](const std::string& extra, const std::string& says) {
    auto r = beat(extra);
    ASSERT_FALSE(r.ok()) << extra;
    EXPECT_NE(r.error().message.find(says), std::string::npos)
        << extra << " -> " << r.error().message;
  };
  expect_error(R"(,"labels":["zone"])", "labels: has the wrong type (array)");
  expect_error(R"(,"labels":{"zone":1})", "labels: has the wrong type (object)");
  expect_error(R"(,"nvlinkGroups":[["a"]])", "nvlinkGroups: has the wrong type (array)");
  expect_error(R"(,"port":"9000")", "port: has the wrong type (string)");
  expect_error(R"(,"acceptsUnchanged":1)", "acceptsUnchanged: has the wrong type (number)");
  expect_error(R"(,"gpus":{"uuid":"x"})", "gpus: must be a list");
  expect_error(R"(,"gpus":[1])", "gpus: [0] must be an object");
  expect_error(R"(,"replicas":[{"id":"r","state":"Ready"},{"id":7,"state":"Ready"}])",
               "replicas[1].id: has the wrong type (number)");
  expect_error(R"(,"replicas":[{"id":"r","state":"Ready","load":{"running":2.5}}])",
               "replicas[0].load.running: must be a whole number (it is number)");
  auto seq = parse_node_report(R"({"version":1,"node":"n","agentId":"a","seq":"1","host":"h"})");
  ASSERT_FALSE(seq.ok());
  EXPECT_NE(seq.error().message.find("seq: has the wrong type (string)"), std::string::npos);

  auto lenient =
      beat(R"(,"port":9000.0,"labels":{"zone":"a"},"nvlinkGroups":[[0,1],[2]],)"
           R"("gpus":[{"uuid":"g","name":"A100-80GB","memoryMiB":81920,"temperatureC":61.0}])");
  ASSERT_TRUE(lenient.ok()) << lenient.error().message;
  EXPECT_EQ(lenient->port, 9000);
  EXPECT_EQ(lenient->labels.at("zone"), "a");
  EXPECT_EQ(lenient->nvlink_groups, (std::vector<std::vector<int>>{{0, 1}, {2}}));
  EXPECT_EQ(lenient->gpus.at(0).temperature_c, 61);
  EXPECT_FALSE(parse_node_report("").ok());
  EXPECT_FALSE(parse_node_report("[1,2]").ok());
}

TEST(AgentProtocol, UnknownHealthOrStateIsAnErrorNamingTheField) {
  auto health = parse_node_report(R"({"version":1,"node":"n","agentId":"a","seq":1,"host":"h",
      "gpus":[{"uuid":"GPU-1","name":"A100","memoryMiB":1,"health":"Sick"}]})");
  ASSERT_FALSE(health.ok());
  EXPECT_NE(health.error().message.find("gpus[0].health: unknown value \"Sick\""),
            std::string::npos)
      << health.error().message;
  auto state = parse_node_report(R"({"version":1,"node":"n","agentId":"a","seq":1,"host":"h",
      "replicas":[{"id":"r","state":"Dancing"}]})");
  ASSERT_FALSE(state.ok());
  EXPECT_NE(state.error().message.find("replicas[0].state"), std::string::npos);
  auto event = parse_node_report(R"({"version":1,"node":"n","agentId":"a","seq":1,"host":"h",
      "events":[{"gpu":"GPU-1","to":"Gone"}]})");
  ASSERT_FALSE(event.ok());
  EXPECT_NE(event.error().message.find("events[0].to"), std::string::npos);
}

}  // namespace
}  // namespace gf::wire

namespace gf {
namespace {

TEST(ControllerLink, AnOlderReplyIsIgnoredAndEventsWaitForAnAcknowledgement) {
  ControllerLink link(ControllerLinkConfig{"node-1", "id", "127.0.0.1", 1, {}, {}});
  ProcessSupervisor sup(SupervisorOptions{});
  ReplicaSet replicas(sup, "/tmp", "gpufleet", ReplicaRunnerConfig{},
                      [](uint16_t, const std::string&, uint64_t) { return false; });
  std::vector<GpuInfo> gpus;
  NodeAssignment newer;
  newer.generation = 5;
  auto applied = link.apply(newer, replicas, gpus, TimePoint{});
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(link.applied_generation(), 5);
  NodeAssignment older;
  older.generation = 4;
  auto stale = link.apply(older, replicas, gpus, TimePoint{});
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(link.applied_generation(), 5);

  // An assignment naming a GPU this node does not have is refused with a reason.
  NodeAssignment wrong;
  wrong.generation = 6;
  ReplicaAssignment a;
  a.id = "r-1";
  a.model = "m";
  a.gpus = {"GPU-elsewhere"};
  wrong.replicas.push_back(a);
  auto problems = link.apply(wrong, replicas, gpus, TimePoint{});
  ASSERT_TRUE(problems.ok());
  ASSERT_EQ(problems->size(), 1u);
  EXPECT_NE((*problems)[0].find("not on this node"), std::string::npos);
  EXPECT_TRUE(replicas.list().empty());

  // A draining entry never starts a replica this agent does not run.
  NodeAssignment drain_only;
  drain_only.generation = 7;
  a.id = "r-2";
  a.gpus = {};
  a.draining = true;
  a.drain_timeout = std::chrono::seconds(30);
  drain_only.replicas.push_back(a);
  problems = link.apply(drain_only, replicas, gpus, TimePoint{});
  ASSERT_TRUE(problems.ok());
  EXPECT_TRUE(problems->empty());
  EXPECT_TRUE(replicas.list().empty());

  HealthTransition t;
  t.gpu = "GPU-node-1-1";
  t.from = Health::kHealthy;
  t.to = Health::kFaulty;
  t.reason = "XID 79 (fatal)";
  link.add_events({t});
  NodeSpec node;
  node.name = "node-1";
  node.gpus.push_back(GpuGroupSpec{"A100-80GB", 2, MiB{81920}, 1.0, {}});
  auto provider = FakeProvider::create(node);
  ASSERT_TRUE(provider.ok()) << provider.error().message;
  Registry registry;
  GpuMonitor monitor(**provider, HealthPolicyConfig{}, registry, "node-1");
  ASSERT_TRUE(monitor.discover().ok());
  NodeReport first = link.build(monitor, replicas, TimePoint{});
  ASSERT_EQ(first.gpus.size(), 2u);
  // Each GPU carries its last transition's reason, in this heartbeat and every later one (#17,
  // item 11: the controller showed "reported by agent").
  EXPECT_EQ(first.gpus[0].reason, "");
  EXPECT_EQ(first.gpus[1].uuid, "GPU-node-1-1");
  EXPECT_EQ(first.gpus[1].reason, "XID 79 (fatal)");
  EXPECT_EQ(first.applied_generation, 7);
  ASSERT_EQ(first.events.size(), 1u);
  NodeReport retry = link.build(monitor, replicas, TimePoint{});  // the first got no answer
  EXPECT_EQ(retry.events.size(), 1u);
  EXPECT_GT(retry.seq, first.seq);
  link.acknowledged();
  NodeReport later = link.build(monitor, replicas, TimePoint{});
  EXPECT_TRUE(later.events.empty());
  EXPECT_EQ(later.gpus[1].reason, "XID 79 (fatal)");
}

}  // namespace
}  // namespace gf

namespace gf {
namespace {

// "unchanged" replies carry no set at all, and only agents that say so get them (#18).
TEST(AgentProtocol, UnchangedRepliesAndTheAgentsConsentRoundTrip) {
  NodeAssignment same;
  same.generation = 12;
  same.unchanged = true;
  const std::string text = wire::to_json(same);
  EXPECT_EQ(text.find("\"replicas\""), std::string::npos) << text;
  auto back = wire::parse_node_assignment(text);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(back->unchanged);
  EXPECT_EQ(back->generation, 12);

  NodeAssignment whole;
  whole.generation = 13;
  auto full = wire::parse_node_assignment(wire::to_json(whole));
  ASSERT_TRUE(full.ok());
  EXPECT_FALSE(full->unchanged);

  NodeReport r;
  r.node = "n";
  r.agent_id = "a";
  r.seq = 1;
  r.host = "h";
  EXPECT_FALSE(wire::parse_node_report(wire::to_json(r))->accepts_unchanged);
  r.accepts_unchanged = true;
  EXPECT_TRUE(wire::parse_node_report(wire::to_json(r))->accepts_unchanged);
}

}  // namespace
}  // namespace gf
