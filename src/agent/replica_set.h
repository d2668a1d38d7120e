// The replicas one agent runs: what it was asked for (from the controller, or its admin endpoint
// until the controller exists), each kept alive by a ReplicaRunner on a port of its own.
#pragma once

#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "agent/replica_runner.h"

namespace gf {

struct DesiredReplica {
  std::string id;
  DeploymentSpec deployment;
  std::vector<std::string> gpu_uuids;
  std::string gpu_model;  // for engine-sim's latency
  double memory_fraction = 0.9;
  int64_t generation = 0;  // of the controller's assignment (0 = asked for by hand)
  std::string api_key;     // the engine demands it of every request; empty: open
};

struct RunningReplica {
  std::string id;
  std::string model;
  ReplicaProcessState state = ReplicaProcessState::kWaiting;
  std::string reason;
  uint16_t port = 0;
  int restarts = 0;
  int64_t generation = 0;
  bool draining = false;  // finishing its requests before it stops (ReplicaRunner::drain)
  std::optional<EngineReading> load;  // the engine's last metrics reading (ReplicaRunner::load)
};

class ReplicaSet {
 public:
  ReplicaSet(ProcessSupervisor& supervisor, std::string log_dir, std::string gpufleet_binary,
             ReplicaRunnerConfig config, ReplicaRunner::Probe probe,
             ReplicaRunner::Scrape scrape = {})
      : sup_(supervisor),
        log_dir_(std::move(log_dir)),
        binary_(std::move(gpufleet_binary)),
        config_(config),
        probe_(std::move(probe)),
        scrape_(std::move(scrape)) {}

  // Starts the replica unless it already runs. Idempotent: asking twice changes nothing (a newer
  // generation of the same assignment is only recorded).
  Status ensure(const DesiredReplica& r, TimePoint now);
  Status remove(const std::string& id, TimePoint now, Duration drain);
  // Stops the replica once its engine has no request in flight or `timeout` has passed
  // (ReplicaRunner::drain); SIGKILL `kill_after` past the SIGTERM. It is forgotten once stopped.
  Status drain(const std::string& id, TimePoint now, Duration timeout, Duration kill_after);
  // Runners for the processes the supervisor adopted from an earlier agent's state file: they are
  // probed like fresh starts, and ensure() later fills in what they run. Returns their ids.
  std::vector<std::string> adopt(TimePoint now);
  // Stops every replica (SIGTERM, SIGKILL after `drain`).
  void stop_all(TimePoint now, Duration drain);
  bool all_stopped() const;
  // Hands exits to their runners, advances every runner, forgets removed ones once stopped.
  // `wait`: block up to this long for an exit first
  // (a stopping agent waits this way; waiting with the supervisor's own poll() would swallow
  // the exits, so each runner would only stop at its deadline).
  void tick(TimePoint now, Duration wait = Duration(0));
  std::vector<RunningReplica> list() const;

 private:
  struct Entry {
    DesiredReplica desired;
    uint16_t port = 0;
    std::unique_ptr<ReplicaRunner> runner;
    bool removed = false;
    bool adopted = false;  // desired holds only the id until ensure() describes it
  };

  ReplicaLaunch launch_for(const DesiredReplica& r, uint16_t port) const;

  ProcessSupervisor& sup_;
  std::string log_dir_;
  std::string binary_;
  ReplicaRunnerConfig config_;
  ReplicaRunner::Probe probe_;
  ReplicaRunner::Scrape scrape_;
  std::map<std::string, Entry> entries_;
  std::mt19937_64 rng_{
      std::random_device{}()};  // backoff jitter: replicas must not restart in step
};

// A loopback port no one listens on now, skipping `taken`: drawn at random below the kernel's
// ephemeral port range, so no outgoing connection can take it before the child binds it.
// [from, to) narrows the draw (tests).
Result<uint16_t> pick_free_port(const std::set<uint16_t>& taken, int from = 0, int to = 0);

}  // namespace gf
