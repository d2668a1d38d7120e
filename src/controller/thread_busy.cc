#include "controller/thread_busy.h"

#include <sys/resource.h>

#include <algorithm>

namespace gf {

namespace {

std::optional<double> thread_cpu_seconds() {
  rusage u{};
  if (getrusage(RUSAGE_THREAD, &u) != 0) return std::nullopt;
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

}  // namespace

std::optional<double> ThreadBusy::sample() {
  const auto now = std::chrono::steady_clock::now();
  const auto cpu = thread_cpu_seconds();
  if (!cpu) return std::nullopt;
  std::optional<double> share;
  if (wall_ && now > *wall_) {
    const double wall = std::chrono::duration<double>(now - *wall_).count();
    share = std::clamp((*cpu - cpu_s_) / wall, 0.0, 1.0);
  }
  wall_ = now;
  cpu_s_ = *cpu;
  return share;
}

}  // namespace gf
