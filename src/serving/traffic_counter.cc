#include "serving/traffic_counter.h"

#include <chrono>

namespace gf {

void TrafficCounter::count(std::string_view model, std::string_view revision, bool error,
                           Duration first_byte) {
  auto m = counts_.find(model);
  if (m == counts_.end()) m = counts_.try_emplace(std::string(model)).first;
  auto r = m->second.find(revision);
  if (r == m->second.end()) r = m->second.try_emplace(std::string(revision)).first;
  RevisionTraffic& t = r->second;
  if (t.ttft_counts.empty()) {
    t.model = model;
    t.revision = revision;
    t.ttft_counts.assign(kTtftBoundsMs.size() + 1, 0);
  }
  ++t.requests;
  if (error) ++t.errors;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(first_byte).count();
  ++t.ttft_counts[ttft_bucket(ms)];
}

std::vector<RevisionTraffic> TrafficCounter::take() {
  std::vector<RevisionTraffic> out;
  for (auto& [model, revisions] : counts_)
    for (auto& [revision, t] : revisions)
      out.push_back(std::move(t));
  counts_.clear();
  return out;
}

}  // namespace gf
