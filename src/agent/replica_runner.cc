#include "agent/replica_runner.h"

#include <fmt/format.h>

#include <atomic>

namespace gf {

namespace {
// Epochs are unique across every runner of the agent, not just one: a port freed by one replica
// may be given to another, and the prober keys its results by port.
std::atomic<uint64_t> last_epoch{0};
}  // namespace

ReplicaRunner::ReplicaRunner(ProcessSupervisor& supervisor, std::string replica, ProcessSpec spec,
                             uint16_t port, std::string log_path, ReplicaRunnerConfig config,
                             Probe probe, Scrape scrape)
    : sup_(supervisor),
      replica_(std::move(replica)),
      spec_(std::move(spec)),
      port_(port),
      log_(std::move(log_path)),
      config_(config),
      probe_(std::move(probe)),
      policy_(config.restart),
      scrape_(std::move(scrape)) {}

void ReplicaRunner::set(ReplicaProcessState s, std::string reason) {
  state_ = s;
  reason_ = std::move(reason);
  // Only a serving engine has a load; a reading of a process that stopped describes nothing.
  if (s != ReplicaProcessState::kReady) load_.reset();
}

void ReplicaRunner::new_epoch(TimePoint now) {
  epoch_ = ++last_epoch;
  started_ = now;
  failed_probes_ = 0;
}

void ReplicaRunner::tick(TimePoint now) {
  switch (state_) {
    case ReplicaProcessState::kWaiting:
    case ReplicaProcessState::kCrashLoop: {
      if (now < start_at_) return;
      auto pid = sup_.start(replica_, spec_, port_, log_);
      if (!pid) {
        // Could not even start: count it as an exit so backoff and crash-loop rules apply.
        on_exit(ProcessExit{replica_, 0, -1, 0}, now, 0.5);
        reason_ = "cannot start: " + pid.error().message;
        return;
      }
      new_epoch(now);
      policy_.started(now);
      set(ReplicaProcessState::kStarting, fmt::format("started, pid {}", *pid));
      return;
    }
    case ReplicaProcessState::kStarting:
      if (probe_(port_, spec_.readiness_path, epoch_)) {
        set(ReplicaProcessState::kReady, "ready");
      } else if (now - started_ > config_.startup_timeout) {
        restart_after_stop_ = true;
        (void)sup_.stop(replica_, config_.restart_drain, now);
        set(ReplicaProcessState::kStopping, fmt::format("not ready within {}; restarting",
                                                        format_duration(config_.startup_timeout)));
      }
      return;
    case ReplicaProcessState::kReady:
      if (drain_) {
        tick_drain(now);
        return;
      }
      if (now >= next_load_scrape_) {
        // A tenth early: ticks come on a fixed schedule, but late by varying amounts, and a
        // tick a hair short of the interval must not skip a whole round.
        next_load_scrape_ = now + config_.load_interval - config_.load_interval / 10;
        scrape_load(now);
      }
      if (probe_(port_, spec_.readiness_path, epoch_)) {
        failed_probes_ = 0;
      } else if (++failed_probes_ >= config_.liveness_failures) {
        restart_after_stop_ = true;
        (void)sup_.stop(replica_, config_.restart_drain, now);
        set(ReplicaProcessState::kStopping,
            fmt::format("{} probes failed in a row; restarting", failed_probes_));
      }
      return;
    case ReplicaProcessState::kStopping:
    case ReplicaProcessState::kStopped:
      return;
  }
}

void ReplicaRunner::on_exit(const ProcessExit& exit, TimePoint now, double uniform01) {
  std::string how = exit.signal != 0      ? fmt::format("killed by signal {}", exit.signal)
                    : exit.exit_code >= 0 ? fmt::format("exited with code {}", exit.exit_code)
                                          : std::string("exited");
  if (state_ == ReplicaProcessState::kStopping && !restart_after_stop_) {
    set(ReplicaProcessState::kStopped, "stopped (" + how + ")");
    return;
  }
  if (drain_) {
    // It was on its way out: nothing to restart.
    set(ReplicaProcessState::kStopped, "exited while draining (" + how + ")");
    return;
  }
  restart_after_stop_ = false;
  if (!spec_known_) {
    // An adopted engine whose command line never arrived: nothing to restart it with.
    set(ReplicaProcessState::kStopped,
        "adopted engine " + how + " before the controller described it");
    return;
  }
  Duration wait = policy_.exited(now, uniform01);
  start_at_ = now + wait;
  restarts_ += 1;
  set(policy_.crash_looping() ? ReplicaProcessState::kCrashLoop : ReplicaProcessState::kWaiting,
      fmt::format("{}; restart {} in {}", how, restarts_, format_duration(wait)));
}

void ReplicaRunner::adopt(TimePoint now) {
  new_epoch(now);
  policy_.started(now);
  set(ReplicaProcessState::kStarting, "adopted from an earlier agent");
}

void ReplicaRunner::drain(TimePoint now, Duration timeout, Duration kill_after) {
  if (drain_ || state_ == ReplicaProcessState::kStopped) return;
  if (state_ == ReplicaProcessState::kStopping && !restart_after_stop_) return;
  if (state_ != ReplicaProcessState::kReady) {
    // Not serving (starting, waiting to restart, stopping): no request to wait for.
    stop(now, kill_after);
    return;
  }
  drain_.emplace(now, timeout, config_.drain_settle);
  kill_after_ = kill_after;
  reason_ = "draining";
  tick_drain(now);
}

// Liveness is not probed while draining: a busy engine that misses probes must not be restarted,
// and an engine that dies now is not restarted either (on_exit).
void ReplicaRunner::tick_drain(TimePoint now) {
  if (scrape_load(now)) drain_->observe(load_->load, load_->asked_at);
  DrainVerdict v = drain_->decide(now);
  if (!v.stop) {
    reason_ = v.reason;
    return;
  }
  (void)sup_.stop(replica_, kill_after_, now);
  set(ReplicaProcessState::kStopping, "drained: " + v.reason);
}

bool ReplicaRunner::scrape_load(TimePoint now) {
  if (!scrape_) return false;
  auto s = scrape_(port_, spec_.metrics_path, now);
  if (!s) return false;  // still running, or it failed: the last reading ages until not sent
  if (s->asked_at < started_) return false;  // the metrics of the process before this one
  auto load = parse_engine_load(s->text, spec_.metrics);
  if (!load) return false;
  load_ = EngineReading{*load, s->asked_at};
  return true;
}

void ReplicaRunner::stop(TimePoint now, Duration drain) {
  if (state_ == ReplicaProcessState::kStarting || state_ == ReplicaProcessState::kReady ||
      (state_ == ReplicaProcessState::kStopping && restart_after_stop_)) {
    restart_after_stop_ = false;
    (void)sup_.stop(replica_, drain, now);
    set(ReplicaProcessState::kStopping, "stopping");
  } else if (state_ != ReplicaProcessState::kStopping) {
    set(ReplicaProcessState::kStopped, "stopped before it ran");
  }
}

}  // namespace gf
