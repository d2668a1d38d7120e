#include "autoscale/load_accumulator.h"

#include <chrono>

namespace gf {
namespace {

void add_counts(std::vector<uint64_t>& into, const std::vector<uint64_t>& from) {
  if (from.empty()) return;
  if (into.size() < from.size()) into.resize(from.size(), 0);
  for (size_t i = 0; i < from.size(); ++i)
    into[i] += from[i];
}

}  // namespace

LoadAccumulator::ModelLoad& LoadAccumulator::load_of(std::string_view model, TimePoint now) {
  auto it = models_.find(model);
  if (it == models_.end()) it = models_.try_emplace(std::string(model)).first;
  if (!it->second.period_start) it->second.period_start = now;
  return it->second;
}

void LoadAccumulator::record(const TrafficReport& report, TimePoint now) {
  for (const ReportedDemand& d : report.demand) {
    ModelLoad& m = load_of(d.model, now);
    m.reported = true;
    m.arrivals += d.arrivals;
    m.prompt_tokens += d.prompt_tokens;
    m.output_tokens += d.output_tokens;
    add_counts(m.tpot_counts, d.tpot_counts);
    m.gateways[report.gateway] = GatewayLoad{d.queued, d.in_flight, now};
  }
  for (const RevisionTraffic& t : report.revisions) {
    ModelLoad& m = load_of(t.model, now);
    m.reported = true;
    add_counts(m.ttft_counts, t.ttft_counts);
  }
}

LoadSample LoadAccumulator::take(std::string_view model, TimePoint now) {
  LoadSample s;
  s.at = now;
  auto it = models_.find(model);
  if (it == models_.end()) return s;  // never reported: unknown
  ModelLoad& m = it->second;
  s.span = now - *m.period_start;
  const double secs = std::chrono::duration<double>(s.span).count();
  for (auto g = m.gateways.begin(); g != m.gateways.end();) {
    if (now - g->second.at > stale_after_) {
      g = m.gateways.erase(g);  // gone quiet: its figures are no longer the truth
      continue;
    }
    s.queued += static_cast<double>(g->second.queued);
    s.in_flight += static_cast<double>(g->second.in_flight);
    ++g;
  }
  // Known when some gateway spoke in the period, or one still vouches for its recent figures.
  s.known = secs > 0 && (m.reported || !m.gateways.empty());
  if (s.known) {
    s.arrival_rps = static_cast<double>(m.arrivals) / secs;
    s.prompt_tps = static_cast<double>(m.prompt_tokens) / secs;
    s.output_tps = static_cast<double>(m.output_tokens) / secs;
    if (double p = ttft_p95_interpolated_ms(m.ttft_counts); p >= 0) s.ttft_p95_ms = p;
    if (double p = tpot_p95_interpolated_ms(m.tpot_counts); p >= 0) s.tpot_p95_ms = p;
    s.ttft_counts = m.ttft_counts;
    s.tpot_counts = m.tpot_counts;
  }
  m.period_start = now;
  m.reported = false;
  m.arrivals = m.prompt_tokens = m.output_tokens = 0;
  m.ttft_counts.clear();
  m.tpot_counts.clear();
  return s;
}

double LoadAccumulator::queued(std::string_view model, TimePoint now) const {
  auto it = models_.find(model);
  if (it == models_.end()) return 0;
  double q = 0;
  for (const auto& [name, g] : it->second.gateways) {
    if (now - g.at <= stale_after_) q += static_cast<double>(g.queued);
  }
  return q;
}

}  // namespace gf
