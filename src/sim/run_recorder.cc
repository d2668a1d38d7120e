#include "sim/run_recorder.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace gf {
namespace {

LatencySummary summarize_sorted(const std::vector<double>& v) {
  LatencySummary s;
  s.samples = v.size();
  if (v.empty()) return s;
  // Nearest rank, as the trace summary (sim/trace.h) and the data README compute it.
  const auto rank = [&](double p) {
    const size_t k = static_cast<size_t>(std::ceil(p / 100 * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(k, 1, v.size()) - 1];
  };
  s.p50 = rank(50);
  s.p95 = rank(95);
  s.p99 = rank(99);
  return s;
}

LatencySummary summarize(std::vector<double>& v) {
  std::sort(v.begin(), v.end());
  return summarize_sorted(v);
}

// Appends sorted `from` to sorted `to`, keeping it sorted: the overall figures from the
// deployments' without sorting everything again.
void merge_into(std::vector<double>& to, const std::vector<double>& from) {
  const size_t mid = to.size();
  to.insert(to.end(), from.begin(), from.end());
  std::inplace_merge(to.begin(), to.begin() + static_cast<std::ptrdiff_t>(mid), to.end());
}

// Sorted values at each percent 0..100 (nearest rank; the minimum at 0).
std::vector<double> percents(const std::vector<double>& sorted) {
  std::vector<double> out;
  if (sorted.empty()) return out;
  for (int p = 0; p <= 100; ++p) {
    const size_t k = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
    out.push_back(sorted[std::clamp<size_t>(k, 1, sorted.size()) - 1]);
  }
  return out;
}

void add(RunFigures& to, const RunFigures& f) {
  to.requests += f.requests;
  to.served += f.served;
  to.met_slo += f.met_slo;
  to.missed_ttft += f.missed_ttft;
  to.missed_tpot += f.missed_tpot;
  to.missed_ttft_waiting += f.missed_ttft_waiting;
  to.missed_ttft_prefill += f.missed_ttft_prefill;
  to.rejected += f.rejected;
  to.failed += f.failed;
  to.gpu_hours += f.gpu_hours;
  to.cost += f.cost;
  to.scaling_actions += f.scaling_actions;
  to.cold_starts += f.cold_starts;
  to.engine_restarts += f.engine_restarts;
}

}  // namespace

RunRecorder::RunRecorder(const SimInput& in, const SimOptions& opts, TimePoint origin,
                         TimePoint measure_from, size_t first_measured)
    : in_(in),
      opts_(opts),
      origin_(origin),
      start_(measure_from),
      first_measured_(first_measured),
      last_end_(measure_from) {
  std::map<std::string, size_t, std::less<>> by_model;
  for (size_t d = 0; d < in.deployments.size(); ++d) {
    by_model.emplace(in.deployments[d].model, d);  // the first deployment of a model counts it
    figures_.push_back(DeploymentFigures{in.deployments[d].name, {}});
  }
  samples_.resize(in.deployments.size());
  deployment_of_.reserve(in.trace->requests.size());
  for (const TraceRequest& r : in.trace->requests) {
    auto it = by_model.find(r.model);
    deployment_of_.push_back(it == by_model.end() ? 0 : it->second);
  }
}

double RunRecorder::since_start(TimePoint t) const {
  return std::chrono::duration<double>(std::max(t, start_) - start_).count();
}

void RunRecorder::request(size_t i, RequestOutcome outcome, std::optional<TimePoint> first_token,
                          std::optional<TimePoint> scheduled, TimePoint end) {
  if (i < first_measured_) return;  // the warm-up replay
  const size_t d = deployment_of_[i];
  RunFigures& f = figures_[d].figures;
  Samples& s = samples_[d];
  const TraceRequest& r = in_.trace->requests[i];
  const TimePoint arrival = origin_ + r.arrival;
  last_end_ = std::max(last_end_, end);
  ++f.requests;
  if (outcome == RequestOutcome::kRejected) ++f.rejected;
  if (outcome == RequestOutcome::kFailed) ++f.failed;
  if (outcome != RequestOutcome::kServed || !first_token) return;
  ++f.served;
  const Duration ttft = *first_token - arrival;
  // Time per output token after the first, as vLLM's time_per_output_token histogram has it.
  const Duration tpot =
      r.output.value > 1 ? (end - *first_token) / (r.output.value - 1) : Duration::zero();
  s.ttft_ms.push_back(to_ms(ttft));
  s.tpot_ms.push_back(to_ms(tpot));
  s.e2e_ms.push_back(to_ms(end - arrival));
  if (ttft > opts_.slo.ttft) {
    ++f.missed_ttft;
    // The longer part of its wait decides why it was late. (An engine schedules a request after
    // it arrives and before its first token, so `placed` lies between the two.)
    const TimePoint placed = scheduled.value_or(*first_token);
    if (placed - arrival > *first_token - placed)
      ++f.missed_ttft_waiting;
    else
      ++f.missed_ttft_prefill;
  } else if (tpot > opts_.slo.tpot)
    ++f.missed_tpot;
  else
    ++f.met_slo;
}

void RunRecorder::started(size_t deployment, TimePoint now) {
  if (now >= start_) ++figures_[deployment].figures.cold_starts;
  Samples& s = samples_[deployment];
  ++s.live;
  figures_[deployment].figures.max_replicas =
      std::max(figures_[deployment].figures.max_replicas, s.live);
}

void RunRecorder::stopped(size_t deployment, int gpus, double price_per_gpu_hour, TimePoint started,
                          TimePoint now) {
  Samples& s = samples_[deployment];
  --s.live;
  const double held = std::max(0.0, since_start(now) - since_start(started)) * gpus;
  s.held_gpu_s += held;
  figures_[deployment].figures.cost += held / 3600 * price_per_gpu_hour;
}

void RunRecorder::busy(size_t deployment, int gpus, Duration iteration, TimePoint ended) {
  const double counted =
      std::min(std::chrono::duration<double>(iteration).count(), since_start(ended));
  samples_[deployment].busy_gpu_s += counted * gpus;
}

void RunRecorder::scaled(size_t deployment, const ScalingDecision& d) {
  ++figures_[deployment].figures.scaling_actions;
  actions_.push_back(ScalingAction{std::chrono::duration<double>(d.at - start_).count(),
                                   d.deployment, d.from, d.to, d.rule, d.reason,
                                   d.load.engine_ttft_p95_ms, d.load.engine_queue_p95_ms});
}

void RunRecorder::restarted(size_t deployment, TimePoint now) {
  if (now >= start_) ++figures_[deployment].figures.cold_starts;
  ++figures_[deployment].figures.engine_restarts;
}

void RunRecorder::sample(TimePoint now, const std::vector<int>& started,
                         const std::vector<int>& ready, const std::map<std::string, int>& gpus) {
  if (now < start_) return;
  if (!timeline_.empty() && timeline_.back().replicas == started &&
      timeline_.back().ready == ready && timeline_.back().gpus == gpus)
    return;
  timeline_.push_back(TimelinePoint{since_start(now), started, ready, gpus});
}

SimResult RunRecorder::finish(TimePoint now, uint64_t events) {
  SimResult out;
  out.simulated_seconds = since_start(std::max(now, last_end_));
  out.events = events;
  double busy = 0, held = 0;
  std::vector<double> ttft, tpot, e2e;
  for (size_t d = 0; d < figures_.size(); ++d) {
    RunFigures& f = figures_[d].figures;
    Samples& s = samples_[d];
    f.gpu_hours = s.held_gpu_s / 3600;
    f.gpu_utilization = s.held_gpu_s > 0 ? std::min(1.0, s.busy_gpu_s / s.held_gpu_s) : 0;
    f.slo_attainment =
        f.requests ? static_cast<double>(f.met_slo) / static_cast<double>(f.requests) : 1;
    f.ttft_ms = summarize(s.ttft_ms);
    f.tpot_ms = summarize(s.tpot_ms);
    f.e2e_ms = summarize(s.e2e_ms);
    merge_into(ttft, s.ttft_ms);
    merge_into(tpot, s.tpot_ms);
    merge_into(e2e, s.e2e_ms);
    busy += s.busy_gpu_s;
    held += s.held_gpu_s;
    add(out.overall, f);
    out.overall.max_replicas += f.max_replicas;
  }
  out.overall.slo_attainment = out.overall.requests ? static_cast<double>(out.overall.met_slo) /
                                                          static_cast<double>(out.overall.requests)
                                                    : 1;
  out.overall.gpu_utilization = held > 0 ? std::min(1.0, busy / held) : 0;
  out.overall.ttft_ms = summarize_sorted(ttft);
  out.overall.tpot_ms = summarize_sorted(tpot);
  out.ttft_cdf_ms = percents(ttft);
  out.tpot_cdf_ms = percents(tpot);
  out.overall.e2e_ms = summarize_sorted(e2e);
  out.deployments = std::move(figures_);
  out.timeline = std::move(timeline_);
  out.actions = std::move(actions_);
  return out;
}

}  // namespace gf
