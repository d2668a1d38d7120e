// GpuSampler: calls a GpuProvider on a thread of its own, every `interval` (1 s by default), and
// hands each reading to a callback. The agent feeds the callback's data to its health policy and
// its /metrics; the sampler itself keeps nothing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gpu/gpu_provider.h"

namespace gf {

inline constexpr Duration kDefaultSampleInterval = std::chrono::seconds(1);
inline constexpr Duration kMinSampleInterval = std::chrono::milliseconds(10);
inline constexpr Duration kMaxSampleInterval = std::chrono::hours(1);

// "1s", "250ms", "5m"; 10ms..1h. The error names the accepted range.
Result<Duration> parse_sample_interval(std::string_view text);

struct SamplerOptions {
  Duration interval = kDefaultSampleInterval;
};

// One round: telemetry (or why none could be read), the XID events and notices since the last
// round, and how long the provider took.
struct SampleRound {
  Result<std::vector<GpuSample>> samples = std::vector<GpuSample>{};
  std::vector<XidEvent> xids;
  std::vector<std::string> notices;
  Duration cost{0};
};

class GpuSampler {
 public:
  using Callback = std::function<void(SampleRound&&)>;

  // The provider must outlive the sampler. Nothing runs until start().
  GpuSampler(GpuProvider& provider, SamplerOptions options, Callback callback);
  ~GpuSampler();  // stop()
  GpuSampler(const GpuSampler&) = delete;
  GpuSampler& operator=(const GpuSampler&) = delete;

  // Starts the thread: a round at once, then one per interval on a fixed grid (no drift; a round
  // that overruns skips the ticks it missed). Calling start() twice is a no-op.
  void start();
  // Wakes the thread and joins it; a round in progress finishes first.
  void stop();
  bool running() const;

  // One round on the caller's thread (tests, `gpufleet agent --once`).
  SampleRound sample_once();

 private:
  void run();

  GpuProvider& provider_;
  SamplerOptions options_;
  Callback callback_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace gf
