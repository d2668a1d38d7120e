// Runs the real gpufleet binary, as a user would, and checks what it prints and returns.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace {

struct CmdResult {
  int status = -1;
  std::string output;  // stdout and stderr together
};

// `redirect` by default merges stderr into what is read; " 2>&1 1>/dev/null" reads stderr alone.
CmdResult gpufleet(const std::string& args, const char* redirect = " 2>&1") {
  std::string cmd = std::string(GPUFLEET_BINARY) + " " + args + redirect;
  CmdResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
    r.output.append(buf.data(), n);
  int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

std::string example() {
  return std::string(GPUFLEET_SOURCE_DIR) + "/examples/cluster.yaml";
}

TEST(Cli, VersionAndHelp) {
  CmdResult v = gpufleet("version");
  EXPECT_EQ(v.status, 0);
  EXPECT_EQ(v.output, std::string("gpufleet ") + GPUFLEET_VERSION + "\n");
  for (const char* sub : {"", "validate ", "pool ", "version "}) {
    CmdResult h = gpufleet(std::string(sub) + "--help");
    EXPECT_EQ(h.status, 0) << sub;
    EXPECT_NE(h.output.find("Usage"), std::string::npos) << sub << h.output;
  }
  CmdResult none = gpufleet("");
  EXPECT_NE(none.status, 0);
  EXPECT_NE(none.output.find("subcommand"), std::string::npos) << none.output;
}

TEST(Cli, GatewayRefusesABadBusyPollSayingWhichFlag) {
  CmdResult r = gpufleet("gateway --port 0 --busy-poll often --upstream m=127.0.0.1:1");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("--busy-poll"), std::string::npos) << r.output;
}

TEST(Cli, ValidateAcceptsTheExamples) {
  CmdResult r = gpufleet("validate -f " + example() + " -f " + GPUFLEET_SOURCE_DIR +
                         "/examples/cluster-large.yaml");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "valid: 2 Cluster(s), 5 Deployment(s), 2 Tenant(s) in 2 file(s)\n");
}

TEST(Cli, ValidatePrintsEveryProblem) {
  std::string path = ::testing::TempDir() + "/bad-manifest.yaml";
  std::ofstream(path) << "apiVersion: gpufleet/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n"
                         "  model: m\n  replicas: many\n  priority: high\n  colour: red\n";
  CmdResult r = gpufleet("validate -f " + path);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find(path + ":6:13: spec.replicas: expected an integer, got \"many\""),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(path + ":7:13: spec.priority: expected an integer"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(path + ":8:3: spec.colour: unknown field \"colour\""), std::string::npos)
      << r.output;
  CmdResult missing = gpufleet("validate -f /nonexistent.yaml");
  EXPECT_NE(missing.status, 0);
  EXPECT_NE(missing.output.find("/nonexistent.yaml"), std::string::npos);
}

TEST(Cli, PoolPlacesTheExampleAndExplainsWhatItCannot) {
  CmdResult r = gpufleet("pool -f " + example() + " -o json");
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  // 2 + 2 + 4 replicas and one reserved slot fit; the 8-GPU model and team-b's second model do not.
  EXPECT_EQ(j["placements"].size(), 9u);
  ASSERT_EQ(j["pending"].size(), 2u);
  std::map<std::string, std::string> status;
  for (const auto& p : j["pending"])
    status[p["deployment"]] = p["status"];
  EXPECT_EQ(status["llama-3-405b"], "Infeasible");
  EXPECT_EQ(status["codellama-34b"], "Unschedulable");
  // The H100 pair goes to the 70B model, which prefers H100.
  for (const auto& p : j["placements"]) {
    if (p["deployment"] == "llama-2-70b" && p["replica"] == 0) {
      EXPECT_EQ(p["node"], "node-3");
    }
  }
  EXPECT_EQ(j["summary"]["total"]["gpus"], 10);
  EXPECT_EQ(
      j["summary"]["total"]["allocated"].get<int>() + j["summary"]["total"]["idle"].get<int>(), 10);

  CmdResult table = gpufleet("pool -f " + example());
  EXPECT_EQ(table.status, 0);
  EXPECT_NE(table.output.find("0/10 GPUs fit (need 8 on one node)"), std::string::npos)
      << table.output;
  EXPECT_NE(table.output.find("ALLOCATION SUMMARY"), std::string::npos);
}

TEST(Cli, LogsPoolEventsAsJsonWhenAsked) {
  CmdResult r = gpufleet("--log-level debug --log-format json pool -f " + example() + " -o json",
                         " 2>&1 1>/dev/null");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find(R"("msg":"pool event","kind":"Allocated")"), std::string::npos)
      << r.output;
  CmdResult bad = gpufleet("--log-level loud version");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("--log-level"), std::string::npos) << bad.output;
}

TEST(Cli, PoolNeedsExactlyOneCluster) {
  std::string path = ::testing::TempDir() + "/only-tenant.yaml";
  std::ofstream(path) << "apiVersion: gpufleet/v1\nkind: Tenant\nmetadata: {name: t}\nspec: {}\n";
  CmdResult r = gpufleet("pool -f " + path);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("expected exactly one Cluster manifest, found 0"), std::string::npos)
      << r.output;
}

}  // namespace
