// Runs engine processes for the agent: each in its own process group with its log file, stopped
// gracefully (SIGTERM to the group, SIGKILL after the drain timeout), watched through pidfds so
// exits are events, and recorded in a state file so a restarted agent adopts or cleans up what
// it left running. Never leaks a process: the destructor kills every group it owns.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/engine_adapter.h"
#include "common/result.h"
#include "common/units.h"

namespace gf {

struct SupervisedProcess {
  std::string replica;
  pid_t pid = 0;            // also the process group id
  uint64_t start_time = 0;  // /proc start time: with the pid, identifies the process for good
  uint16_t port = 0;
  std::string log_path;
  std::string argv0;
  bool adopted = false;              // started by an earlier agent: not our child, no exit status
  std::optional<TimePoint> kill_at;  // set by stop(): SIGKILL the group then
};

struct ProcessExit {
  std::string replica;
  pid_t pid = 0;
  int exit_code = -1;  // -1 when killed by a signal or when adopted (status unknowable)
  int signal = 0;
};

struct SupervisorOptions {
  std::string state_file;            // empty = no persistence
  int64_t max_log_bytes = 64 << 20;  // then the log is copied to .1 and truncated
};

// The agent's environment with `overrides` replacing or adding variables, as "KEY=VALUE" strings:
// what an engine process gets.
// Closes every descriptor above stderr: what a forked child does before exec, so that nothing
// its parent holds (listening sockets, connections, files) reaches the program it runs.
// Async-signal-safe.
void close_inherited_descriptors();

std::vector<std::string> merged_environment(const std::map<std::string, std::string>& overrides);

class ProcessSupervisor {
 public:
  explicit ProcessSupervisor(SupervisorOptions options) : options_(std::move(options)) {}
  ~ProcessSupervisor();
  ProcessSupervisor(const ProcessSupervisor&) = delete;
  ProcessSupervisor& operator=(const ProcessSupervisor&) = delete;

  // Starts `spec` for `replica`, stdout and stderr appended to `log_path`.
  Result<pid_t> start(const std::string& replica, const ProcessSpec& spec, uint16_t port,
                      const std::string& log_path);
  // SIGTERM to the group now; SIGKILL at now + drain unless it has exited by then.
  Status stop(const std::string& replica, Duration drain, TimePoint now);
  // Waits up to `timeout` for an exit (pidfd poll, no sleeping), escalates due SIGKILLs, rotates
  // logs, and returns the exits since the last call.
  std::vector<ProcessExit> poll(TimePoint now, Duration timeout = Duration(0));

  // Reads the state file of an earlier agent: processes still alive with the recorded command are
  // adopted; records whose process is gone are dropped. Returns the adopted replicas.
  std::vector<std::string> adopt_from_state();
  // Forgets every process without killing it, as a crashed agent would (tests use this).
  void detach_all();

  const std::map<std::string, SupervisedProcess>& processes() const { return procs_; }

 private:
  void save_state() const;
  void forget(const std::string& replica);

  SupervisorOptions options_;
  std::map<std::string, SupervisedProcess> procs_;
  std::map<std::string, int> pidfds_;  // replica -> pidfd
};

}  // namespace gf
