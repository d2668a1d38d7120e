// Keeps one engine process of a replica running: starts it, probes it until it is ready, watches
// it, restarts it with backoff when it exits or stops answering, and reports a crash loop.
// Time and probe results come in from the caller, so the agent loop and tests drive it alike.
#pragma once

#include <functional>
#include <string>

#include "agent/process_supervisor.h"
#include "agent/restart_policy.h"
#include "fleet/replica_process_state.h"

namespace gf {

struct ReplicaRunnerConfig {
  RestartPolicyConfig restart;
  int liveness_failures = 3;  // consecutive failed probes of a ready engine: restart it
  Duration startup_timeout = std::chrono::minutes(15);  // weights can take long to load
  Duration restart_drain = std::chrono::seconds(10);
};

class ReplicaRunner {
 public:
  // True when the engine answers `path` with 2xx.
  using Probe = std::function<bool(uint16_t port, const std::string& path)>;

  ReplicaRunner(ProcessSupervisor& supervisor, std::string replica, ProcessSpec spec, uint16_t port,
                std::string log_path, ReplicaRunnerConfig config, Probe probe);

  void tick(TimePoint now);
  // The supervisor reported this replica's exit. `uniform01` jitters the backoff.
  void on_exit(const ProcessExit& exit, TimePoint now, double uniform01);
  void stop(TimePoint now, Duration drain);
  // Takes over a process an earlier agent started (the supervisor adopted it): probes it like a
  // fresh start. Its command line may be unknown until set_spec(); until then an exit is final.
  void adopt(TimePoint now);
  void set_spec(ProcessSpec spec) {
    spec_ = std::move(spec);
    spec_known_ = true;
  }
  bool spec_known() const { return spec_known_; }

  ReplicaProcessState state() const { return state_; }
  const std::string& reason() const { return reason_; }
  int restarts() const { return restarts_; }
  const std::string& replica() const { return replica_; }

 private:
  void set(ReplicaProcessState s, std::string reason);

  ProcessSupervisor& sup_;
  std::string replica_;
  ProcessSpec spec_;
  uint16_t port_;
  std::string log_;
  ReplicaRunnerConfig config_;
  Probe probe_;
  RestartPolicy policy_;
  ReplicaProcessState state_ = ReplicaProcessState::kWaiting;
  std::string reason_ = "not started yet";
  TimePoint start_at_{};
  TimePoint started_{};
  int failed_probes_ = 0;
  bool restart_after_stop_ = false;
  int restarts_ = 0;
  bool spec_known_ = true;
};

}  // namespace gf
