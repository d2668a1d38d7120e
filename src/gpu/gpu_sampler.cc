#include "gpu/gpu_sampler.h"

#include <fmt/format.h>

#include <utility>

namespace gf {

Result<Duration> parse_sample_interval(std::string_view text) {
  auto d = parse_duration(text);
  if (!d.ok()) return d.error();
  if (*d < kMinSampleInterval || *d > kMaxSampleInterval) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("sample interval {} is out of range: give {}..{}", format_duration(*d),
                    format_duration(kMinSampleInterval), format_duration(kMaxSampleInterval)));
  }
  return *d;
}

GpuSampler::GpuSampler(GpuProvider& provider, SamplerOptions options, Callback callback)
    : provider_(provider), options_(options), callback_(std::move(callback)) {
  if (options_.interval < kMinSampleInterval) options_.interval = kMinSampleInterval;
}

GpuSampler::~GpuSampler() {
  stop();
}

void GpuSampler::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void GpuSampler::stop() {
  std::thread t;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    t = std::move(thread_);
  }
  cv_.notify_all();
  if (t.joinable()) t.join();
}

bool GpuSampler::running() const {
  std::lock_guard lock(mu_);
  return thread_.joinable();
}

SampleRound GpuSampler::sample_once() {
  SampleRound round;
  auto start = std::chrono::steady_clock::now();
  round.samples = provider_.sample();
  round.cost = std::chrono::steady_clock::now() - start;
  round.xids = provider_.drain_xids();
  round.notices = provider_.take_notices();
  return round;
}

void GpuSampler::run() {
  auto next = std::chrono::steady_clock::now();
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    if (callback_) {
      callback_(sample_once());
    } else {
      (void)sample_once();
    }
    auto now = std::chrono::steady_clock::now();
    next += options_.interval;
    if (next <= now) {  // overran: skip the ticks we missed, keep the grid
      auto behind = (now - next) / options_.interval + 1;
      next += options_.interval * behind;
    }
    std::unique_lock lock(mu_);
    if (cv_.wait_until(lock, next, [&] { return stop_; })) return;
  }
}

}  // namespace gf
