#include "agent/process_supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace gf {

void close_inherited_descriptors() {
  // Nothing but stdin, stdout and stderr may reach an engine. Boost.Asio opens sockets without
  // SOCK_CLOEXEC, so an agent's listening socket leaked into every engine it started: after an
  // agent crash the engines held its port, and a restarted agent could not bind it (#17,
  // defect 2). close_range (Linux 5.9) is one call; the loop is for older kernels.
  if (::syscall(SYS_close_range, 3U, ~0U, 0U) == 0) return;
  rlimit lim{};
  const long top = ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY
                       ? static_cast<long>(lim.rlim_cur)
                       : 65536;
  for (long fd = 3; fd < top; ++fd)
    ::close(static_cast<int>(fd));
}
namespace {

namespace fs = std::filesystem;

int pidfd_open(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

// When the process started, in clock ticks since boot (/proc/PID/stat field 22), or 0 when it is
// gone or a zombie. A pid and its start time name one process for good: pids are recycled, this
// pair is not.
uint64_t proc_start_time(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  std::string f;
  for (int i = 3; i <= 22 && fields >> f; ++i) {
    if (i == 3 && (f == "Z" || f == "X")) return 0;  // exited, not yet reaped: gone all the same
    if (i == 22) return std::strtoull(f.c_str(), nullptr, 10);
  }
  return 0;
}

Error sys_error(const std::string& what) {
  return make_error(ErrorCode::kUnavailable, fmt::format("{}: {}", what, std::strerror(errno)));
}

}  // namespace

std::vector<std::string> merged_environment(const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    if (overrides.count(kv.substr(0, kv.find('='))) == 0) out.push_back(kv);
  }
  for (const auto& [k, v] : overrides)
    out.push_back(k + "=" + v);
  return out;
}

ProcessSupervisor::~ProcessSupervisor() {
  for (auto& [replica, p] : procs_) {
    ::kill(-p.pid, SIGKILL);
    if (!p.adopted) ::waitpid(p.pid, nullptr, 0);
  }
  for (auto& [replica, fd] : pidfds_)
    ::close(fd);
  procs_.clear();
  save_state();
}

Result<pid_t> ProcessSupervisor::start(const std::string& replica, const ProcessSpec& spec,
                                       uint16_t port, const std::string& log_path) {
  if (procs_.count(replica) != 0) {
    return make_error(ErrorCode::kAlreadyExists,
                      fmt::format("replica {} is already running", replica));
  }
  if (spec.argv.empty()) return make_error(ErrorCode::kInvalidArgument, "empty command line");
  std::error_code ec;
  fs::create_directories(fs::path(log_path).parent_path(), ec);
  int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return sys_error("cannot open log " + log_path);

  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> env_strings = merged_environment(spec.env);
  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : env_strings)
    envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    return sys_error("fork");
  }
  if (pid == 0) {
    ::setpgid(0, 0);  // its own group: stop() signals the engine and every worker it forked
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    close_inherited_descriptors();
    ::execvpe(argv[0], argv.data(), envp.data());
    ::dprintf(STDERR_FILENO, "gpufleet: cannot run %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, so a stop() right after start() finds the group
  ::close(log);
  int fd = pidfd_open(pid);
  if (fd >= 0) pidfds_[replica] = fd;
  procs_[replica] = SupervisedProcess{replica,      pid,   proc_start_time(pid), port, log_path,
                                      spec.argv[0], false, std::nullopt};
  save_state();
  return pid;
}

Status ProcessSupervisor::stop(const std::string& replica, Duration drain, TimePoint now) {
  auto it = procs_.find(replica);
  if (it == procs_.end())
    return make_error(ErrorCode::kNotFound, fmt::format("no running replica {}", replica));
  ::kill(-it->second.pid, SIGTERM);
  it->second.kill_at = now + drain;
  return {};
}

std::vector<ProcessExit> ProcessSupervisor::poll(TimePoint now, Duration timeout) {
  std::vector<ProcessExit> exits;
  // Wait for any pidfd to become readable (= that process exited), up to the timeout.
  std::vector<pollfd> fds;
  for (const auto& [replica, fd] : pidfds_)
    fds.push_back(pollfd{fd, POLLIN, 0});
  int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
  if (!fds.empty()) ::poll(fds.data(), fds.size(), ms);

  std::vector<std::string> gone;
  for (auto& [replica, p] : procs_) {
    bool exited = false;
    ProcessExit e{replica, p.pid, -1, 0};
    if (!p.adopted) {
      int status = 0;
      if (::waitpid(p.pid, &status, WNOHANG) == p.pid) {
        exited = true;
        if (WIFEXITED(status)) e.exit_code = WEXITSTATUS(status);
        if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
      }
    } else if (proc_start_time(p.pid) != p.start_time) {
      exited = true;  // not our child: gone, a zombie, or its pid now names another process
    }
    if (exited) {
      ::kill(-p.pid, SIGKILL);  // workers left in its group go with it
      exits.push_back(e);
      gone.push_back(replica);
      continue;
    }
    if (p.kill_at && now >= *p.kill_at) ::kill(-p.pid, SIGKILL);  // drain timeout passed
    // Rotation by copy-and-truncate: the engine keeps its O_APPEND descriptor and writes on.
    std::error_code ec;
    if (static_cast<int64_t>(fs::file_size(p.log_path, ec)) > options_.max_log_bytes && !ec) {
      fs::copy_file(p.log_path, p.log_path + ".1", fs::copy_options::overwrite_existing, ec);
      if (!ec) ::truncate(p.log_path.c_str(), 0);
    }
  }
  for (const auto& r : gone)
    forget(r);
  if (!gone.empty()) save_state();
  return exits;
}

void ProcessSupervisor::forget(const std::string& replica) {
  procs_.erase(replica);
  auto fd = pidfds_.find(replica);
  if (fd != pidfds_.end()) {
    ::close(fd->second);
    pidfds_.erase(fd);
  }
}

void ProcessSupervisor::detach_all() {
  for (auto& [replica, fd] : pidfds_)
    ::close(fd);
  pidfds_.clear();
  procs_.clear();
  options_.state_file.clear();  // the file now belongs to the next supervisor: never rewrite it
}

std::vector<std::string> ProcessSupervisor::adopt_from_state() {
  std::vector<std::string> adopted;
  if (options_.state_file.empty()) return adopted;
  std::ifstream in(options_.state_file);
  if (!in) return adopted;
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return adopted;
  for (const auto& e : j) {
    if (!e.is_object()) continue;
    SupervisedProcess p;
    p.replica = e.value("replica", "");
    p.pid = e.value("pid", 0);
    p.port = e.value("port", 0);
    p.log_path = e.value("log", "");
    p.argv0 = e.value("argv0", "");
    p.start_time = e.value("startTime", uint64_t{0});
    p.adopted = true;
    // Adopt only our own process: a recycled pid (another start time) is left alone.
    if (p.replica.empty() || p.pid <= 0 || p.start_time == 0 || procs_.count(p.replica) != 0)
      continue;
    if (proc_start_time(p.pid) != p.start_time) continue;
    int fd = pidfd_open(p.pid);
    if (fd >= 0) pidfds_[p.replica] = fd;
    procs_[p.replica] = p;
    adopted.push_back(p.replica);
  }
  save_state();
  return adopted;
}

void ProcessSupervisor::save_state() const {
  if (options_.state_file.empty()) return;
  nlohmann::json j = nlohmann::json::array();
  for (const auto& [replica, p] : procs_) {
    j.push_back({{"replica", replica},
                 {"pid", p.pid},
                 {"startTime", p.start_time},
                 {"port", p.port},
                 {"log", p.log_path},
                 {"argv0", p.argv0}});
  }
  // Write then rename: a crash mid-write leaves the old file, never half of a new one.
  std::string tmp = options_.state_file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2);
  }
  std::error_code ec;
  fs::rename(tmp, options_.state_file, ec);
}

}  // namespace gf
