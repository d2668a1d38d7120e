#include "agent/replica_set.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>

namespace gf {

Result<uint16_t> pick_free_port(const std::set<uint16_t>& taken, int from, int to) {
  // Below the kernel's ephemeral range: a port the kernel chose for bind(0) may be handed to any
  // outgoing connection between our close() and the child's bind() ("Address already in use"
  // in CI). Below the range only a listener asking for that port can take it.
  if (from <= 0 || to <= from) {
    int low = 32768;
    if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); range) range >> low;
    from = 10000;
    to = std::max(from + 1000, std::min(low, 65536));
  }
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int> draw(from, to - 1);
  for (int attempt = 0; attempt < 64; ++attempt) {
    const auto port = static_cast<uint16_t>(draw(rng));
    if (taken.count(port) != 0) continue;
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (ok) return port;
  }
  return make_error(ErrorCode::kUnavailable,
                    fmt::format("no free port on the loopback interface in {}..{}", from, to - 1));
}

ReplicaLaunch ReplicaSet::launch_for(const DesiredReplica& r, uint16_t port) const {
  ReplicaLaunch l;
  l.replica = r.id;
  l.deployment = &r.deployment;
  l.gpu_uuids = r.gpu_uuids;
  l.gpu_model = r.gpu_model;
  l.port = port;
  l.memory_fraction = r.memory_fraction;
  l.gpufleet_binary = binary_;
  l.api_key = r.api_key;
  return l;
}

std::vector<std::string> ReplicaSet::adopt(TimePoint now) {
  std::vector<std::string> ids;
  for (const auto& [id, p] : sup_.processes()) {
    if (!p.adopted || entries_.count(id)) continue;
    Entry e;
    e.desired.id = id;
    e.port = p.port;
    e.adopted = true;
    e.runner = std::make_unique<ReplicaRunner>(sup_, id, ProcessSpec{}, p.port, p.log_path, config_,
                                               probe_, scrape_);
    e.runner->adopt(now);
    entries_.emplace(id, std::move(e));
    ids.push_back(id);
  }
  return ids;
}

void ReplicaSet::stop_all(TimePoint now, Duration drain) {
  for (auto& [id, e] : entries_) {
    e.removed = true;
    e.runner->stop(now, drain);
  }
}

bool ReplicaSet::all_stopped() const {
  for (const auto& [id, e] : entries_) {
    if (e.runner->state() != ReplicaProcessState::kStopped) return false;
  }
  return true;
}

Status ReplicaSet::ensure(const DesiredReplica& r, TimePoint now) {
  auto it = entries_.find(r.id);
  if (it != entries_.end() && !it->second.removed) {  // already running: nothing to do
    Entry& e = it->second;
    if (e.adopted) {
      // An engine left by an earlier agent: now we know what it runs, and how to restart it.
      ReplicaLaunch l = launch_for(r, e.port);
      auto spec = build_process(l);
      if (!spec) return spec.error();
      e.runner->set_spec(*spec);
      e.desired = r;
      e.adopted = false;
    }
    e.desired.generation = std::max(e.desired.generation, r.generation);
    return {};
  }
  if (it != entries_.end()) {
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("replica {} is still stopping", r.id));
  }
  std::set<uint16_t> taken;
  for (const auto& [id, e] : entries_)
    taken.insert(e.port);
  auto port = pick_free_port(taken);
  if (!port) return port.error();
  Entry e;
  e.desired = r;
  e.port = *port;
  ReplicaLaunch l = launch_for(e.desired, *port);
  auto spec = build_process(l);
  if (!spec) return spec.error();
  e.runner = std::make_unique<ReplicaRunner>(
      sup_, r.id, *spec, *port, log_dir_ + "/" + r.id + ".log", config_, probe_, scrape_);
  e.runner->tick(now);
  entries_.emplace(r.id, std::move(e));
  return {};
}

Status ReplicaSet::remove(const std::string& id, TimePoint now, Duration drain) {
  auto it = entries_.find(id);
  if (it == entries_.end())
    return make_error(ErrorCode::kNotFound, fmt::format("no replica {}", id));
  it->second.removed = true;
  it->second.runner->stop(now, drain);
  return {};
}

Status ReplicaSet::drain(const std::string& id, TimePoint now, Duration timeout,
                         Duration kill_after) {
  auto it = entries_.find(id);
  if (it == entries_.end())
    return make_error(ErrorCode::kNotFound, fmt::format("no replica {}", id));
  it->second.removed = true;  // once stopped it is gone, not restarted
  it->second.runner->drain(now, timeout, kill_after);
  return {};
}

void ReplicaSet::tick(TimePoint now, Duration wait) {
  for (const auto& exit : sup_.poll(now, wait)) {
    auto it = entries_.find(exit.replica);
    if (it != entries_.end())
      it->second.runner->on_exit(exit, now, std::uniform_real_distribution<double>(0, 1)(rng_));
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    it->second.runner->tick(now);
    if ((it->second.removed || it->second.adopted) &&
        it->second.runner->state() == ReplicaProcessState::kStopped) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

std::vector<RunningReplica> ReplicaSet::list() const {
  std::vector<RunningReplica> out;
  for (const auto& [id, e] : entries_) {
    out.push_back(RunningReplica{id, e.desired.deployment.model, e.runner->state(),
                                 e.runner->reason(), e.port, e.runner->restarts(),
                                 e.desired.generation, e.runner->draining(), e.runner->load()});
  }
  return out;
}

}  // namespace gf
