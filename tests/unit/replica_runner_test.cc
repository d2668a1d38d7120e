// A replica's engine kept alive for real: gpufleet engine-sim started through its adapter and the
// supervisor, probed over HTTP until ready, killed, restarted after its backoff, and stopped.
// Plus crash-loop detection with an engine that cannot start.
#include "agent/replica_runner.h"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <optional>
#include <set>

#include <filesystem>
#include <utility>

#include "common/clock.h"
#include "net/http_probe.h"

namespace gf {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool http_ok(uint16_t port, const std::string& path, uint64_t /*epoch*/ = 0) {
  auto r = net::probe_http("127.0.0.1", port, path, seconds(1));
  return r.ok() && *r >= 200 && *r < 300;
}

class ReplicaRunnerTest : public ::testing::Test {
 protected:
  // Ticks until `want` (waiting on the supervisor's pidfds between ticks, never sleeping blind);
  // hands exits to the runner.
  bool drive_to(ReplicaRunner& r, ReplicaProcessState want) {
    for (int i = 0; i < 400 && r.state() != want; ++i) {
      r.tick(clock.now());
      for (const auto& e : sup.poll(clock.now(), milliseconds(25)))
        r.on_exit(e, clock.now(), 0.5);
    }
    return r.state() == want;
  }
  std::string dir = ::testing::TempDir() + "/runner-" + std::to_string(getpid());
  ManualClock clock;
  ProcessSupervisor sup{{}};
};

TEST_F(ReplicaRunnerTest, StartsProbesRestartsAndStopsAnEngine) {
  DeploymentSpec dep;
  dep.name = "llama";
  dep.model = "meta-llama/Llama-2-7b-hf";
  dep.engine.type = EngineType::kEngineSim;
  dep.engine.args = {"--time-scale", "0", "--cold-start", "0s"};
  ReplicaLaunch l;
  l.replica = "llama-0";
  l.deployment = &dep;
  l.gpu_uuids = {"GPU-node-1-0"};
  l.gpu_model = "A100-80GB";
  l.port = free_port();
  l.gpufleet_binary = GPUFLEET_BINARY;
  auto spec = build_process(l);
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  ReplicaRunner r(sup, "llama-0", *spec, l.port, dir + "/llama-0.log", {}, http_ok);

  ASSERT_TRUE(drive_to(r, ReplicaProcessState::kReady)) << r.reason();
  EXPECT_TRUE(http_ok(l.port, "/v1/models"));

  // The engine dies: the runner waits its backoff (1 s, no jitter at 0.5), then starts it again.
  ::kill(sup.processes().at("llama-0").pid, SIGKILL);
  ASSERT_TRUE(drive_to(r, ReplicaProcessState::kWaiting)) << r.reason();
  EXPECT_EQ(r.reason(), "killed by signal 9; restart 1 in 1s");
  r.tick(clock.now());
  EXPECT_EQ(r.state(), ReplicaProcessState::kWaiting);  // not before the backoff
  clock.advance(seconds(1));
  ASSERT_TRUE(drive_to(r, ReplicaProcessState::kReady)) << r.reason();
  EXPECT_EQ(r.restarts(), 1);

  r.stop(clock.now(), seconds(10));
  ASSERT_TRUE(drive_to(r, ReplicaProcessState::kStopped)) << r.reason();
  EXPECT_FALSE(http_ok(l.port, "/health"));
  EXPECT_TRUE(sup.processes().empty());
}

// The prober keys results by port, and a probe of the killed process may finish after the
// restart: the new process must answer for itself (#17, defect 4: a stale "ready" sent traffic
// to an engine still loading, and three failed probes then restarted it a second time).
TEST_F(ReplicaRunnerTest, ARestartedEngineIsNotReadyOnTheWordOfTheProcessBefore) {
  ProcessSpec spec;
  spec.argv = {"/bin/sleep", "30"};
  std::optional<uint64_t> answered;  // the one process whose probe said "ready"
  std::set<uint64_t> asked;
  auto probe = [&](uint16_t, const std::string&, uint64_t epoch) {
    asked.insert(epoch);
    if (!answered) answered = epoch;
    return epoch == *answered;
  };
  ReplicaRunner r(sup, "s-0", spec, free_port(), dir + "/s-0.log", {}, probe);
  ASSERT_TRUE(drive_to(r, ReplicaProcessState::kReady)) << r.reason();
  ::kill(sup.processes().at("s-0").pid, SIGKILL);
  ASSERT_TRUE(drive_to(r, ReplicaProcessState::kWaiting)) << r.reason();
  clock.advance(seconds(1));
  r.tick(clock.now());
  ASSERT_EQ(r.state(), ReplicaProcessState::kStarting) << r.reason();
  for (int i = 0; i < 5; ++i)
    r.tick(clock.now());
  EXPECT_EQ(r.state(), ReplicaProcessState::kStarting) << r.reason();
  EXPECT_EQ(asked.size(), 2u);  // one epoch per process

  r.stop(clock.now(), seconds(1));
  ASSERT_TRUE(drive_to(r, ReplicaProcessState::kStopped)) << r.reason();
}

TEST_F(ReplicaRunnerTest, AnEngineThatKeepsDyingIsReportedAsCrashLooping) {
  ProcessSpec spec;
  spec.argv = {"/bin/false"};
  ReplicaRunner r(sup, "bad-0", spec, free_port(), dir + "/bad-0.log", {}, http_ok);
  for (int attempt = 0; attempt < 5; ++attempt) {
    r.tick(clock.now());
    ASSERT_EQ(r.state(), ReplicaProcessState::kStarting);
    auto exits = sup.poll(clock.now(), seconds(5));
    ASSERT_EQ(exits.size(), 1u);
    r.on_exit(exits[0], clock.now(), 0.5);
    clock.advance(seconds(20));  // past any backoff so far
  }
  EXPECT_EQ(r.state(), ReplicaProcessState::kCrashLoop);
  EXPECT_EQ(r.restarts(), 5);
  EXPECT_NE(r.reason().find("exited with code 1"), std::string::npos) << r.reason();
}

// Scrapes as AsyncProber::fetch gives them: the text set before the last call, stamped with that
// call's `now`, handed out once.
struct FakeScrape {
  std::string text;  // what the engine shows from now on
  std::optional<MetricsScrape> finished;
  std::optional<MetricsScrape> operator()(uint16_t, const std::string&, TimePoint now) {
    auto out = std::exchange(finished, MetricsScrape{text, now});
    return out;
  }
};

std::string vllm_load(int running, int waiting) {
  return "vllm:num_requests_running{model_name=\"m\"} " + std::to_string(running) +
         "\nvllm:num_requests_waiting{model_name=\"m\"} " + std::to_string(waiting) + "\n";
}

class ReplicaDrainTest : public ReplicaRunnerTest {
 protected:
  ReplicaDrainTest() {
    spec.argv = {"/bin/sleep", "60"};  // an engine that runs until it is told to stop
    spec.metrics.running = "vllm:num_requests_running";
    spec.metrics.waiting = "vllm:num_requests_waiting";
  }
  std::unique_ptr<ReplicaRunner> ready_runner() {
    auto r = std::make_unique<ReplicaRunner>(
        sup, "d-0", spec, free_port(), dir + "/d-0.log", ReplicaRunnerConfig{},
        [](uint16_t, const std::string&, uint64_t) { return true; },
        [this](uint16_t p, const std::string& path, TimePoint now) {
          return scrape(p, path, now);
        });
    EXPECT_TRUE(drive_to(*r, ReplicaProcessState::kReady)) << r->reason();
    return r;
  }
  ProcessSpec spec;
  FakeScrape scrape;
};

TEST_F(ReplicaDrainTest, TheEngineStopsOnlyOnceItHasNothingInFlight) {
  auto r = ready_runner();
  scrape.text = vllm_load(2, 1);
  r->drain(clock.now(), seconds(30), seconds(5));
  EXPECT_TRUE(r->draining());
  EXPECT_EQ(r->state(), ReplicaProcessState::kReady);  // keeps serving what it has
  for (int i = 0; i < 5; ++i) {
    clock.advance(seconds(1));
    r->tick(clock.now());
    EXPECT_EQ(r->state(), ReplicaProcessState::kReady);
    EXPECT_EQ(r->reason(), "draining: 2 running, 1 waiting");
  }
  scrape.text = vllm_load(0, 0);
  clock.advance(seconds(1));
  r->tick(clock.now());  // starts the scrape that will see it idle
  EXPECT_EQ(r->state(), ReplicaProcessState::kReady);
  clock.advance(seconds(1));
  r->tick(clock.now());
  EXPECT_EQ(r->state(), ReplicaProcessState::kStopping);
  EXPECT_EQ(r->reason(), "drained: no request in flight");
  ASSERT_TRUE(drive_to(*r, ReplicaProcessState::kStopped)) << r->reason();
  EXPECT_EQ(r->reason(), "stopped (killed by signal 15)");  // SIGTERM, not SIGKILL
  EXPECT_EQ(r->restarts(), 0);
}

TEST_F(ReplicaDrainTest, TheDrainTimeoutBoundsTheWait) {
  auto r = ready_runner();
  scrape.text = vllm_load(1, 0);
  r->drain(clock.now(), seconds(30), seconds(5));
  clock.advance(seconds(29));
  r->tick(clock.now());
  EXPECT_EQ(r->state(), ReplicaProcessState::kReady);
  clock.advance(seconds(1));
  r->tick(clock.now());
  EXPECT_EQ(r->state(), ReplicaProcessState::kStopping);
  EXPECT_EQ(r->reason(), "drained: drain timeout (30s) passed with 1 requests still in flight");
  ASSERT_TRUE(drive_to(*r, ReplicaProcessState::kStopped)) << r->reason();
}

TEST_F(ReplicaDrainTest, AnEngineThatDiesWhileDrainingIsNotRestarted) {
  auto r = ready_runner();
  scrape.text = vllm_load(1, 0);
  r->drain(clock.now(), seconds(30), seconds(5));
  ::kill(sup.processes().at("d-0").pid, SIGKILL);
  ASSERT_TRUE(drive_to(*r, ReplicaProcessState::kStopped)) << r->reason();
  EXPECT_EQ(r->reason(), "exited while draining (killed by signal 9)");
  EXPECT_EQ(r->restarts(), 0);
}

TEST_F(ReplicaDrainTest, AnEngineNotYetServingStopsAtOnce) {
  ReplicaRunner r(sup, "s-0", spec, free_port(), dir + "/s-0.log", {},
                  [](uint16_t, const std::string&, uint64_t) { return false; });
  r.tick(clock.now());
  ASSERT_EQ(r.state(), ReplicaProcessState::kStarting);
  r.drain(clock.now(), seconds(30), seconds(5));
  EXPECT_EQ(r.state(), ReplicaProcessState::kStopping);
  ASSERT_TRUE(drive_to(r, ReplicaProcessState::kStopped)) << r.reason();
}

TEST(HttpProbe, SaysWhatFailed) {
  auto r = net::probe_http("127.0.0.1", free_port(), "/health", milliseconds(500));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("Connection refused"), std::string::npos) << r.error().message;
  EXPECT_FALSE(net::probe_http("not-an-ip", 80, "/", milliseconds(100)).ok());
}

}  // namespace
}  // namespace gf
