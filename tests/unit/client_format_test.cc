// The client commands' rendering from JSON fixtures shaped like the controller's answers: tables,
// YAML (read back with yaml-cpp), and error messages. No server.
#include "cli/client_format.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "cli/client.h"

namespace gf::client {
namespace {

using nlohmann::json;

constexpr int64_t kNow = 1'700'000'100'000;  // ms; fixtures are 100 s or less before it

json gpu_fixture() {
  return json::parse(R"([
    {"uuid": "GPU-node-3-0", "node": "node-3", "index": 0, "model": "H100-80GB",
     "state": "Healthy", "reason": "", "memoryMiB": 81920, "memoryCommittedMiB": 73728,
     "shares": 1, "utilizationPct": 63.4, "temperatureC": 54.0, "powerW": 410.2},
    {"uuid": "GPU-node-3-1", "node": "node-3", "index": 1, "model": "H100-80GB",
     "state": "Cordoned", "reason": "by operator", "memoryMiB": 81920,
     "memoryCommittedMiB": 0, "shares": 0, "utilizationPct": 0, "temperatureC": 31,
     "powerW": 60}])");
}

json replica_fixture() {
  return json::parse(R"([
    {"id": "demo-0", "deployment": "demo", "revision": "00a1b2c3d4", "node": "node-3",
     "gpus": ["GPU-node-3-0"], "gpuModel": "H100-80GB", "state": "Ready", "reason": "",
     "address": "127.0.0.1:41234", "restarts": 0, "generation": 3,
     "sinceMs": 1700000070000},
    {"id": "demo-1", "deployment": "demo", "revision": "00a1b2c3d4", "node": "",
     "gpus": [], "gpuModel": "", "state": "Pending", "reason": "no GPU fits",
     "address": "", "restarts": 2, "generation": 0, "sinceMs": 1700000099000}])");
}

TEST(ClientFormatTest, ParsesKindsAndFormats) {
  EXPECT_EQ(*parse_kind("nodes"), Kind::kNodes);
  EXPECT_EQ(*parse_kind("node"), Kind::kNodes);
  EXPECT_EQ(*parse_kind("deploy"), Kind::kDeployments);
  EXPECT_EQ(*parse_kind("replica"), Kind::kReplicas);
  EXPECT_EQ(*parse_kind("ev"), Kind::kEvents);
  auto bad = parse_kind("pods");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("nodes, gpus, deployments, replicas, events"),
            std::string::npos);
  EXPECT_EQ(*parse_output_format("yaml"), OutputFormat::kYaml);
  EXPECT_FALSE(parse_output_format("xml"));
  EXPECT_STREQ(kind_key(Kind::kGpus), "uuid");
}

TEST(ClientFormatTest, Ages) {
  EXPECT_EQ(format_age(0, kNow), "-");
  EXPECT_EQ(format_age(kNow - 5'000, kNow), "5s");
  EXPECT_EQ(format_age(kNow - 180'000, kNow), "3m");
  EXPECT_EQ(format_age(kNow - 7'200'000, kNow), "2h");
  EXPECT_EQ(format_age(kNow - 3 * 86'400'000LL, kNow), "3d");
  EXPECT_EQ(format_age(kNow + 5'000, kNow), "0s");  // clocks a little apart
  EXPECT_EQ(format_gib(81920), "80.0");
}

TEST(ClientFormatTest, GpuTable) {
  EXPECT_EQ(render_table(Kind::kGpus, gpu_fixture(), kNow),
            "NODE    INDEX  UUID          MODEL      STATE     UTIL  TEMP  POWER  MEMORY(GiB)  "
            "SHARES  REASON\n"
            "node-3  0      GPU-node-3-0  H100-80GB  Healthy   63%   54C   410W   72.0/80.0    "
            "1       -\n"
            "node-3  1      GPU-node-3-1  H100-80GB  Cordoned  0%    31C   60W    0.0/80.0     "
            "0       by operator\n");
}

TEST(ClientFormatTest, ReplicaTableShowsDashesForEmptyFields) {
  EXPECT_EQ(render_table(Kind::kReplicas, replica_fixture(), kNow),
            "ID      DEPLOYMENT  STATE    NODE    GPUS          REVISION    RESTARTS  AGE  "
            "ADDRESS          REASON\n"
            "demo-0  demo        Ready    node-3  GPU-node-3-0  00a1b2c3d4  0         30s  "
            "127.0.0.1:41234  -\n"
            "demo-1  demo        Pending  -       -             00a1b2c3d4  2         1s   "
            "-                no GPU fits\n");
}

TEST(ClientFormatTest, NodeTableWithAndWithoutInventory) {
  json nodes = json::parse(R"([
    {"name": "node-3", "state": "Ready", "address": "127.0.0.1:9100",
     "lastSeenMs": 1700000099500, "appliedGeneration": 3,
     "gpus": {"gpus": 2, "allocated": 1, "idle": 0, "unavailable": 0, "cordoned": 1,
              "memoryMiB": 163840, "memoryCommittedMiB": 73728, "fragmentation": 0.1}},
    {"name": "node-9", "state": "Unknown", "address": "", "lastSeenMs": 0,
     "appliedGeneration": 0}])");
  EXPECT_EQ(render_table(Kind::kNodes, nodes, kNow),
            "NAME    STATE    GPUS  ALLOCATED  IDLE  UNAVAILABLE  CORDONED  MEMORY(GiB)  ADDRESS"
            "         LAST-SEEN\n"
            "node-3  Ready    2     1          0     0            1         72.0/160.0   "
            "127.0.0.1:9100  0s\n"
            "node-9  Unknown  -     -          -     -            -         -            -    "
            "           -\n");
}

TEST(ClientFormatTest, DescribeDeploymentShowsScalingAndWhy) {
  json d = json::parse(R"({"name": "chat", "model": "m", "engine": "engine-sim",
    "gpusPerReplica": 1, "replicas": 3, "minReplicas": 1, "maxReplicas": 6, "readyReplicas": 2,
    "totalReplicas": 3, "rollout": "steady"})");
  json s = json::parse(R"({"deployment": "chat", "policy": "target", "metric": "concurrency",
    "replicas": 3, "desired": 3, "queued": 0,
    "last": {"timeMs": 1700000099000, "rule": "within tolerance", "reason": "ok", "from": 3, "to": 3,
             "signals": {"known": true, "arrivalRps": 12.5, "queued": 0, "inFlight": 14,
                         "promptTokensPerSecond": 900, "outputTokensPerSecond": 300,
                         "ready": 2, "starting": 1, "ttftP95Ms": 250, "enginesReporting": 2,
                         "engineRunning": 9, "engineWaiting": 3, "engineKvCacheUsage": 0.42,
                         "engineTtftP95Ms": 850.4, "engineQueueP95Ms": 120}},
    "decisions": [{"timeMs": 1700000040000, "from": 1, "to": 3, "rule": "panic",
                   "reason": "a burst"}]})");
  const std::string out = describe_deployment(d, s, kNow);
  EXPECT_NE(out.find("Replicas:  3 wanted (1..6), 2 ready, 3 in all"), std::string::npos) << out;
  EXPECT_NE(out.find("Scaling:   target on concurrency, desired 3"), std::string::npos) << out;
  EXPECT_NE(out.find("within tolerance: ok"), std::string::npos) << out;
  EXPECT_NE(out.find("12.5 req/s, 0 queued, 14 in flight"), std::string::npos) << out;
  EXPECT_NE(out.find("TTFT p95 250 ms"), std::string::npos) << out;
  EXPECT_NE(out.find("engines: 9 running, 3 waiting, KV cache 42%, TTFT p95 850 ms, queue time "
                     "p95 120 ms (2 replicas reporting)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("1m   1     3   panic  a burst"), std::string::npos) << out;
  EXPECT_EQ(out.find("work"), std::string::npos) << out;  // only with the work metric
  s["metric"] = "work";
  s["last"]["signals"]["work"] = 2.345;
  const std::string work = describe_deployment(d, s, kNow);
  EXPECT_NE(work.find("Scaling:   target on work"), std::string::npos) << work;
  EXPECT_NE(work.find("TTFT p95 250 ms, work 2.35 replicas; engines"), std::string::npos) << work;
  // No engine reported: unknown, said so, never "0 running".
  s["last"]["signals"] = json{{"known", false}, {"enginesReporting", 0}};
  const std::string unknown = describe_deployment(d, s, kNow);
  EXPECT_NE(unknown.find("unknown (no gateway reported this model); engines: unknown (no replica "
                         "reported its load)"),
            std::string::npos)
      << unknown;
  const std::string fixed = describe_deployment(d, json{{"policy", "fixed"}}, kNow);
  EXPECT_NE(fixed.find("Scaling:   fixed (no spec.autoscaling)"), std::string::npos) << fixed;
}

TEST(ClientFormatTest, DeploymentAndEventTables) {
  json deps = json::parse(R"([{"name": "demo", "model": "meta-llama/Llama-2-7b-hf",
    "engine": "engine-sim", "revision": "00a1b2c3d4", "replicas": 2, "minReplicas": 1,
    "maxReplicas": 3, "readyReplicas": 1, "totalReplicas": 2, "gpusPerReplica": 1,
    "routing": "least-load", "rolloutStrategy": "RollingUpdate",
    "rollout": "revision 00a1b2c3d4: 1/2 replicas ready", "scaling": "target", "history": []}])");
  EXPECT_EQ(render_table(Kind::kDeployments, deps, kNow),
            "NAME  READY  REPLICAS  MIN  MAX  SCALING  MODEL                     ENGINE      GPUS  "
            "REVISION\n"
            "demo  1/2    2         1    3    target   meta-llama/Llama-2-7b-hf  engine-sim  1     "
            "00a1b2c3d4\n");
  json events = json::parse(R"([{"timeMs": 1700000040000, "kind": "ReplicaState",
    "subject": "demo-0", "from": "Starting", "to": "Ready", "reason": ""}])");
  EXPECT_EQ(render_table(Kind::kEvents, events, kNow),
            "AGE  KIND          SUBJECT  FROM      TO     REASON\n"
            "1m   ReplicaState  demo-0   Starting  Ready  -\n");
  EXPECT_EQ(render_table(Kind::kEvents, json::array(), kNow), "");
}

TEST(ClientFormatTest, TopFrameJoinsReplicasToTheirGpus) {
  std::string frame = render_top("http://127.0.0.1:7070", gpu_fixture(), replica_fixture(), kNow);
  EXPECT_EQ(frame,
            "gpufleet top  http://127.0.0.1:7070  22:15:00 UTC\n"
            "GPUs: 2 (Cordoned 1, Healthy 1)  avg util 32%\n"
            "replicas: 2 (Pending 1, Ready 1)\n"
            "\n"
            "NODE    GPU  MODEL      STATE     UTIL  TEMP  MEMORY(GiB)  REPLICAS\n"
            "node-3  0    H100-80GB  Healthy   63%   54C   72.0/80.0    demo-0\n"
            "node-3  1    H100-80GB  Cordoned  0%    31C   0.0/80.0     -\n"
            "\n"
            "REPLICA  DEPLOYMENT  STATE    NODE    GPUS          RESTARTS  AGE  ADDRESS\n"
            "demo-0   demo        Ready    node-3  GPU-node-3-0  0         30s  127.0.0.1:41234\n"
            "demo-1   demo        Pending  -       -             2         1s   -\n");
  std::string empty = render_top("u", json::array(), json::array(), kNow);
  EXPECT_NE(empty.find("no GPUs registered"), std::string::npos) << empty;
  EXPECT_NE(empty.find("no replicas"), std::string::npos) << empty;
}

// Every scalar must come back from a YAML parser as what it was.
void expect_same(const json& j, const YAML::Node& y, const std::string& where) {
  if (j.is_object()) {
    ASSERT_TRUE(y.IsMap()) << where;
    EXPECT_EQ(y.size(), j.size()) << where;
    for (const auto& [k, v] : j.items())
      expect_same(v, y[k], where + "." + k);
  } else if (j.is_array()) {
    ASSERT_TRUE(y.IsSequence()) << where;
    ASSERT_EQ(y.size(), j.size()) << where;
    for (size_t i = 0; i < j.size(); ++i)
      expect_same(j[i], y[i], where + "[" + std::to_string(i) + "]");
  } else if (j.is_string()) {
    ASSERT_TRUE(y.IsScalar()) << where;
    EXPECT_EQ(y.Scalar(), j.get<std::string>()) << where;
    if (y.Tag() == "?") {
      // Left plain, so it must not read as a bool, number or null to a YAML 1.1 reader.
      bool b = false;
      double d = 0;
      EXPECT_FALSE(YAML::convert<bool>::decode(y, b)) << where << " reads as a bool";
      EXPECT_FALSE(YAML::convert<double>::decode(y, d)) << where << " reads as a number";
    }
  } else if (j.is_null()) {
    EXPECT_TRUE(y.IsNull()) << where;
  } else if (j.is_boolean()) {
    EXPECT_EQ(y.as<bool>(), j.get<bool>()) << where;
  } else if (j.is_number_integer()) {
    EXPECT_EQ(y.as<int64_t>(), j.get<int64_t>()) << where;
  } else {
    EXPECT_DOUBLE_EQ(y.as<double>(), j.get<double>()) << where;
  }
}

TEST(ClientFormatTest, YamlReadsBackToTheSameValues) {
  json tricky = json::array(
      {"",     "true",   "no",  "Yes",    "on",          "null",      "~",          "1",
       "1.5",  "-3",     "1e3", "0x1F",   ".inf",        "1:30",      "2024-01-01", "a: b",
       "a #b", "- x",    "x:",  " lead",  "trail ",      "[x]",       "{x}",        "a,b",
       "'q'",  "\"dq\"", "#c",  "*alias", "&anchor",     "!tag",      "%d",         "@x",
       "`x",   "|",      ">",   "?",      "line\nbreak", "tab\there", "ünïcode",    "plain words"});
  json doc = {
      {"replicas", replica_fixture()},
      {"gpus", gpu_fixture()},
      {"tricky", tricky},
      {"nested",
       {{"empty_list", json::array()},
        {"empty_map", json::object()},
        {"list_of_lists", json::array({json::array({1, 2}), json::array()})},
        {"n", nullptr},
        {"b", false},
        {"f", 0.25},
        {"big", 1e20}}},
      {"weird key: yes", 1},
  };
  std::string yaml = to_yaml(doc);
  YAML::Node y = YAML::Load(yaml);
  expect_same(doc, y, "$");
}

TEST(ClientFormatTest, YamlIsBlockStyleForPeople) {
  json j = json::parse(R"({"replicas": [{"id": "demo-0", "gpus": ["GPU-0"], "restarts": 0}],
                          "status": "revision 1: 1/1 replicas ready; rollout complete"})");
  EXPECT_EQ(to_yaml(j),
            "replicas:\n"
            "- gpus:\n"
            "  - GPU-0\n"
            "  id: demo-0\n"
            "  restarts: 0\n"
            "status: \"revision 1: 1/1 replicas ready; rollout complete\"\n");
  EXPECT_EQ(to_yaml(json::object()), "{}\n");
  EXPECT_EQ(to_yaml(json("x")), "x\n");
  EXPECT_EQ(render_data(json{{"a", 1}}, OutputFormat::kJson), "{\n  \"a\": 1\n}\n");
}

TEST(ClientFormatTest, ApiErrorWithMessageAndCode) {
  EXPECT_EQ(format_api_error(
                404, R"({"error":{"code":"NotFound","message":"no deployment named \"x\""}})"),
            "no deployment named \"x\" (NotFound, HTTP 404)");
  std::string unauthenticated = R"({"error":{"code":"Unauthenticated","message":"needs a token"}})";
  EXPECT_EQ(format_api_error(401, unauthenticated), "needs a token (Unauthenticated, HTTP 401)");
}

TEST(ClientFormatTest, ApiErrorListsEveryDiagnosticWithTheUsersFileName) {
  std::string body = R"({"error":{"code":"InvalidArgument",
    "message":"request.yaml:6:13: spec.replicas: expected an integer",
    "details":["request.yaml:6:13: spec.replicas: expected an integer",
               "request.yaml:8:3: spec.colour: unknown field"]}})";
  EXPECT_EQ(format_api_error(400, body, "demo.yaml"),
            "InvalidArgument (HTTP 400): 2 problems\n"
            "  demo.yaml:6:13: spec.replicas: expected an integer\n"
            "  demo.yaml:8:3: spec.colour: unknown field");
  // Without a file name the controller's own name stays.
  EXPECT_NE(format_api_error(400, body).find("  request.yaml:8:3: spec.colour"), std::string::npos);
}

TEST(ClientFormatTest, ApiErrorThatIsNotTheApisShape) {
  EXPECT_EQ(format_api_error(502, "Bad Gateway\n"),
            "the controller answered HTTP 502: Bad Gateway");
  EXPECT_EQ(format_api_error(500, ""), "the controller answered HTTP 500 with no body");
  EXPECT_EQ(format_api_error(500, R"({"error":"flat"})"),
            "the controller answered HTTP 500: {\"error\":\"flat\"}");
}

TEST(ClientFormatTest, UnreachableNamesTheUrlOnce) {
  EXPECT_EQ(format_unreachable("http://127.0.0.1:1", "127.0.0.1:1: connect: Connection refused"),
            "cannot reach the controller at http://127.0.0.1:1: connect: Connection refused (is "
            "`gpufleet controller` or `gpufleet up` running?)");
  // A reason without the address prefix is kept whole.
  EXPECT_EQ(format_unreachable("u", "timed out: no answer"),
            "cannot reach the controller at u: timed out: no answer (is `gpufleet controller` or "
            "`gpufleet up` running?)");
}

TEST(ClientFormatTest, UrlEscaping) {
  EXPECT_EQ(escape_url_part("node-3"), "node-3");
  EXPECT_EQ(escape_url_part("a b&c/d?e#f"), "a%20b%26c%2Fd%3Fe%23f");
}

TEST(ClientFormatTest, BadControllerUrlIsAnError) {
  auto c = ControllerClient::create({"https://x:1", ""});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("https is not supported"), std::string::npos);
}

}  // namespace
}  // namespace gf::client
