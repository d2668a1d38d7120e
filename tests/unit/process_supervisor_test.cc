// Real processes (shell scripts standing in for engines): start, logs, crash exit codes, graceful
// stop, SIGKILL after the drain timeout for the whole group, log rotation, and adoption by a new
// supervisor from the state file. Exits are awaited through pidfds, never by sleeping.
#include "agent/process_supervisor.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/clock.h"

namespace gf {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Waits until `pid` has exited (pidfd readable), up to 10 s.
bool wait_gone(pid_t pid) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH;
  pollfd p{fd, POLLIN, 0};
  bool done = ::poll(&p, 1, 10000) == 1;
  ::close(fd);
  return done;
}

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("supervisor-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // The trap is set before the pid file is written: the test sends SIGTERM as soon as it reads
    // that file, and a TERM that came before the trap would kill the shell outright (a flake).
    script("sleeper",
           "echo started\nsleep 1000 &\ntrap 'echo got TERM; kill $!; exit 0' TERM\n"
           "echo $! > \"$CHILD_PID\"\nwait\n");
    script("stubborn", "trap '' TERM\nsleep 1000 &\necho $! > \"$CHILD_PID\"\nwait\nwait\n");
    script("crash", "echo boom >&2\nexit 3\n");
    script("chatty",
           "i=0\nwhile [ $i -lt 50 ]; do echo 0123456789012345678901234567890123456789; "
           "i=$((i+1)); done\nexec sleep 1000\n");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void script(const std::string& name, const std::string& body) {
    fs::path p = dir_ / name;
    std::ofstream(p) << "#!/bin/sh\n" << body;
    fs::permissions(p, fs::perms::owner_all);
  }
  ProcessSpec spec(const std::string& name) {
    ProcessSpec s;
    s.argv = {(dir_ / name).string()};
    s.env = {{"CHILD_PID", (dir_ / (name + ".child")).string()}};
    return s;
  }
  // Polls until an exit arrives (each poll blocks on the pidfds for up to 5 s).
  std::vector<ProcessExit> next_exits(ProcessSupervisor& sup) {
    for (int i = 0; i < 4; ++i) {
      auto e = sup.poll(clock_.now(), seconds(5));
      if (!e.empty()) return e;
    }
    return {};
  }
  pid_t child_pid(const std::string& name) {
    // The script writes it right after starting; wait for the file to be complete.
    for (int i = 0; i < 1000; ++i) {
      std::string s = slurp(dir_ / (name + ".child"));
      if (!s.empty() && s.back() == '\n') return std::stoi(s);
      usleep(1000);
    }
    return 0;
  }

  fs::path dir_;
  ManualClock clock_;
};

TEST_F(SupervisorTest, CrashExitCodeAndLogAreReported) {
  ProcessSupervisor sup({});
  ASSERT_TRUE(sup.start("r1", spec("crash"), 31000, (dir_ / "logs/r1.log").string()).ok());
  auto exits = next_exits(sup);
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].replica, "r1");
  EXPECT_EQ(exits[0].exit_code, 3);
  EXPECT_EQ(slurp(dir_ / "logs/r1.log"), "boom\n");
  EXPECT_TRUE(sup.processes().empty());
}

// An engine inherits nothing but stdin, stdout and stderr: not a listening socket opened without
// SOCK_CLOEXEC (as Boost.Asio opens them), not a file (#17, defect 2: engines held a crashed
// agent's port, so the agent could not restart on it).
TEST_F(SupervisorTest, AnEngineInheritsOnlyStdinStdoutAndStderr) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);  // no SOCK_CLOEXEC
  ASSERT_GE(listener, 3);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  const int file = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC
  ASSERT_GE(file, 3);
  // The shell lists its own descriptors and what each points to (the shell's own script and
  // directory descriptors appear too, as files and directories, never as sockets).
  script("fds", "for f in /proc/$$/fd/*; do echo \"${f##*/} $(readlink \"$f\")\"; done\n");
  ProcessSupervisor sup({});
  ASSERT_TRUE(sup.start("r1", spec("fds"), 31000, (dir_ / "r1.log").string()).ok());
  auto exits = next_exits(sup);
  ::close(listener);
  ::close(file);
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].exit_code, 0);
  const std::string listing = slurp(dir_ / "r1.log");
  std::istringstream log(listing);
  int lines = 0;
  for (std::string fd, target; log >> fd >> target; ++lines) {
    EXPECT_EQ(target.rfind("socket:", 0), std::string::npos) << "fd " << fd << " is a socket";
    if (target == "/dev/null") EXPECT_EQ(fd, "0") << "the /dev/null file leaked as fd " << fd;
  }
  EXPECT_GE(lines, 3) << listing;
}

TEST_F(SupervisorTest, MissingExecutableExits127WithAReason) {
  ProcessSupervisor sup({});
  ProcessSpec s;
  s.argv = {"/nonexistent/engine"};
  ASSERT_TRUE(sup.start("r1", s, 31000, (dir_ / "r1.log").string()).ok());
  auto exits = next_exits(sup);
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].exit_code, 127);
  EXPECT_NE(slurp(dir_ / "r1.log").find("cannot run /nonexistent/engine"), std::string::npos);
}

TEST_F(SupervisorTest, GracefulStopDeliversSigtermToTheGroup) {
  ProcessSupervisor sup({});
  ASSERT_TRUE(sup.start("r1", spec("sleeper"), 31000, (dir_ / "r1.log").string()).ok());
  pid_t child = child_pid("sleeper");
  ASSERT_GT(child, 0);
  ASSERT_TRUE(sup.stop("r1", seconds(30), clock_.now()).ok());
  auto exits = next_exits(sup);
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].exit_code, 0);  // its TERM trap ran
  EXPECT_TRUE(wait_gone(child));
  EXPECT_NE(slurp(dir_ / "r1.log").find("got TERM"), std::string::npos);
  EXPECT_EQ(sup.stop("r1", seconds(1), clock_.now()).error().code, ErrorCode::kNotFound);
}

TEST_F(SupervisorTest, IgnoredSigtermEscalatesToSigkillAfterTheDrainTimeout) {
  ProcessSupervisor sup({});
  ASSERT_TRUE(sup.start("r1", spec("stubborn"), 31000, (dir_ / "r1.log").string()).ok());
  pid_t child = child_pid("stubborn");
  ASSERT_GT(child, 0);
  ASSERT_TRUE(sup.stop("r1", seconds(10), clock_.now()).ok());
  EXPECT_TRUE(sup.poll(clock_.now(), std::chrono::milliseconds(200)).empty());  // still draining
  clock_.advance(seconds(11));
  auto exits = next_exits(sup);
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].signal, SIGKILL);
  EXPECT_TRUE(wait_gone(child)) << "a worker of the engine outlived it";
}

TEST_F(SupervisorTest, LogsRotateByCopyAndTruncate) {
  SupervisorOptions o;
  o.max_log_bytes = 1000;
  ProcessSupervisor sup(o);
  ASSERT_TRUE(sup.start("r1", spec("chatty"), 31000, (dir_ / "r1.log").string()).ok());
  // 50 lines of 41 bytes: wait (bounded) until the script has written them all.
  for (int i = 0; i < 5000 && fs::file_size(dir_ / "r1.log") < 2050; ++i)
    usleep(1000);
  ASSERT_EQ(fs::file_size(dir_ / "r1.log"), 2050u);
  EXPECT_TRUE(sup.poll(clock_.now()).empty());
  EXPECT_EQ(fs::file_size(dir_ / "r1.log.1"), 2050u);
  EXPECT_EQ(fs::file_size(dir_ / "r1.log"), 0u);
}

TEST_F(SupervisorTest, ANewSupervisorAdoptsWhatTheOldOneLeftAndDropsWhatDied) {
  SupervisorOptions o;
  o.state_file = (dir_ / "state.json").string();
  pid_t pid = 0;
  {
    ProcessSupervisor old(o);
    auto r1 = old.start("r1", spec("sleeper"), 31001, (dir_ / "r1.log").string());
    auto r2 = old.start("r2", spec("crash"), 31002, (dir_ / "r2.log").string());
    ASSERT_TRUE(r1.ok() && r2.ok());
    pid = *r1;
    ASSERT_TRUE(wait_gone(*r2));
    waitpid(*r2, nullptr, 0);
    old.detach_all();  // the agent "crashes": nothing is stopped, the state file remains
  }
  // Add a record whose pid is alive but started at another time (a recycled pid): never adopted.
  {
    std::ifstream in(o.state_file);
    nlohmann::json j = nlohmann::json::parse(in);
    ASSERT_EQ(j.size(), 2u);
    j.push_back({{"replica", "r3"},
                 {"pid", getpid()},
                 {"port", 31003},
                 {"log", ""},
                 {"argv0", "/usr/bin/vllm"}});
    std::ofstream(o.state_file) << j.dump();
  }
  ProcessSupervisor fresh(o);
  std::vector<std::string> adopted = fresh.adopt_from_state();
  EXPECT_EQ(adopted, std::vector<std::string>{"r1"});  // r2 had exited, r3 is not ours
  ASSERT_EQ(fresh.processes().count("r1"), 1u);
  EXPECT_TRUE(fresh.processes().at("r1").adopted);
  EXPECT_EQ(fresh.processes().at("r1").port, 31001);
  ASSERT_TRUE(fresh.stop("r1", seconds(30), clock_.now()).ok());
  // Not our child: it is reaped elsewhere, and we learn of the exit through its pidfd.
  auto exits = next_exits(fresh);
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].pid, pid);
  EXPECT_TRUE(wait_gone(pid));
  // In this test the "engines" are still our children (an agent's are re-parented to init when it
  // dies): reap them here.
  waitpid(pid, nullptr, 0);
}

TEST_F(SupervisorTest, TheDestructorLeavesNoProcessBehind) {
  pid_t pid = 0;
  pid_t child = 0;
  {
    ProcessSupervisor sup({});
    auto started = sup.start("r1", spec("stubborn"), 31000, (dir_ / "r1.log").string());
    ASSERT_TRUE(started.ok());
    pid = *started;
    child = child_pid("stubborn");
    ASSERT_GT(child, 0);
  }
  EXPECT_TRUE(wait_gone(pid));
  EXPECT_TRUE(wait_gone(child));
}

}  // namespace
}  // namespace gf
