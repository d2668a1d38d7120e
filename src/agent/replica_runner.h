// Keeps one engine process of a replica running: starts it, probes it until it is ready, watches
// it, restarts it with backoff when it exits or stops answering, and reports a crash loop.
// Time and probe results come in from the caller, so the agent loop and tests drive it alike.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "agent/engine_drain.h"
#include "agent/engine_load.h"
#include "agent/process_supervisor.h"
#include "agent/restart_policy.h"
#include "fleet/replica_process_state.h"

namespace gf {

struct ReplicaRunnerConfig {
  RestartPolicyConfig restart;
  int liveness_failures = 3;  // consecutive failed probes of a ready engine: restart it
  Duration startup_timeout = std::chrono::minutes(15);  // weights can take long to load
  Duration restart_drain = std::chrono::seconds(10);
  // A draining engine's idle reading counts only from this long after the drain began
  // (agent/engine_drain.h).
  Duration drain_settle = std::chrono::seconds(1);
  // A Ready engine's metrics are read about this often, for the load each heartbeat carries
  // (agent/load_summary.h): the heartbeat's pace, so a short --sample-interval does not multiply
  // scrapes.
  Duration load_interval = std::chrono::seconds(1);
};

class ReplicaRunner {
 public:
  // True when the engine answers `path` with 2xx. `epoch` names the process asked about: each
  // start (and adoption) gets a new one, and an answer from an earlier process must not count.
  using Probe = std::function<bool(uint16_t port, const std::string& path, uint64_t epoch)>;
  // The engine's metrics text from the last GET of `path` that finished, with the `now` at which
  // it was asked for (AsyncProber::fetch); nullopt while none has. Empty: loads are unknown.
  using Scrape = std::function<std::optional<MetricsScrape>(uint16_t port, const std::string& path,
                                                            TimePoint)>;

  ReplicaRunner(ProcessSupervisor& supervisor, std::string replica, ProcessSpec spec, uint16_t port,
                std::string log_path, ReplicaRunnerConfig config, Probe probe, Scrape scrape = {});

  void tick(TimePoint now);
  // The supervisor reported this replica's exit. `uniform01` jitters the backoff.
  void on_exit(const ProcessExit& exit, TimePoint now, double uniform01);
  void stop(TimePoint now, Duration drain);
  // Lets the engine finish what it has before it is stopped: it keeps running (it gets no new
  // requests: the controller took it out of the routing table) until its own metrics show no
  // request running or waiting, or `timeout` passes; then stop(now, kill_after). An engine that
  // is not Ready has nothing in flight and stops at once. Asking again changes nothing.
  void drain(TimePoint now, Duration timeout, Duration kill_after);
  bool draining() const { return drain_.has_value(); }
  // Takes over a process an earlier agent started (the supervisor adopted it): probes it like a
  // fresh start. Its command line may be unknown until set_spec(); until then an exit is final.
  void adopt(TimePoint now);
  void set_spec(ProcessSpec spec) {
    spec_ = std::move(spec);
    spec_known_ = true;
  }
  bool spec_known() const { return spec_known_; }

  // The engine's load from the last scrape of its metrics that finished, while it runs; nullopt
  // before the first one, and again once the process exits or is stopped.
  const std::optional<EngineReading>& load() const { return load_; }

  ReplicaProcessState state() const { return state_; }
  const std::string& reason() const { return reason_; }
  int restarts() const { return restarts_; }
  const std::string& replica() const { return replica_; }

 private:
  void set(ReplicaProcessState s, std::string reason);
  // A new process: probes and scrapes of the one before no longer count.
  void new_epoch(TimePoint now);
  void tick_drain(TimePoint now);
  // Reads the result of the last scrape that finished and starts the next one; true when it
  // brought a new reading.
  bool scrape_load(TimePoint now);

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
  uint64_t epoch_ = 0;  // of the process running now (Probe); unique in this agent
  bool restart_after_stop_ = false;
  int restarts_ = 0;
  bool spec_known_ = true;
  Scrape scrape_;
  std::optional<EngineReading> load_;
  TimePoint next_load_scrape_{};
  std::optional<EngineDrain> drain_;
  Duration kill_after_{0};
};

}  // namespace gf
