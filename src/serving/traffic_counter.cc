#include "serving/traffic_counter.h"

#include <chrono>
#include <utility>

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

ReportedDemand& TrafficCounter::demand_of(std::string_view model) {
  auto it = demand_.find(model);
  if (it == demand_.end()) {
    it = demand_.try_emplace(std::string(model)).first;
    it->second.model = model;
  }
  return it->second;
}

void TrafficCounter::arrived(std::string_view model, Tokens prompt) {
  ReportedDemand& d = demand_of(model);
  ++d.arrivals;
  d.prompt_tokens += prompt.value;
}

void TrafficCounter::finished(std::string_view model, Tokens output, std::optional<Duration> tpot) {
  ReportedDemand& d = demand_of(model);
  d.output_tokens += output.value;
  if (!tpot) return;
  if (d.tpot_counts.empty()) d.tpot_counts.assign(kTpotBoundsMs.size() + 1, 0);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*tpot).count();
  ++d.tpot_counts[tpot_bucket(ms)];
}

std::map<std::string, ReportedDemand, std::less<>> TrafficCounter::take_demand() {
  return std::exchange(demand_, {});
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
