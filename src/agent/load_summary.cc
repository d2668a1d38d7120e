#include "agent/load_summary.h"

#include <algorithm>
#include <cmath>

namespace gf {

namespace {

int64_t whole(double v) {
  return std::llround(std::max(0.0, v));
}

std::optional<Tokens> tokens(const std::optional<double>& v) {
  if (!v) return std::nullopt;
  return Tokens(whole(*v));
}

}  // namespace

std::optional<ReplicaLoad> load_summary(const std::optional<EngineReading>& reading, TimePoint now,
                                        Duration max_age) {
  if (!reading) return std::nullopt;
  const Duration age = std::max(Duration(0), now - reading->asked_at);
  if (age > max_age) return std::nullopt;
  const EngineLoad& l = reading->load;
  ReplicaLoad out;
  out.running = static_cast<int>(whole(l.running));
  out.waiting = static_cast<int>(whole(l.waiting));
  if (l.kv_cache_usage) out.kv_cache_usage = std::clamp(*l.kv_cache_usage, 0.0, 1.0);
  out.prompt_tokens = tokens(l.prompt_tokens);
  out.generation_tokens = tokens(l.generation_tokens);
  out.ttft_counts = l.ttft_counts;
  out.queue_counts = l.queue_counts;
  out.age = age;
  return out;
}

}  // namespace gf
