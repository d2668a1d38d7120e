#include "autoscale/autoscaler.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "autoscale/gpu_choice.h"
#include "common/traffic_report.h"
#include "perfmodel/deployment_perf.h"
#include "perfmodel/replica_capacity.h"

namespace gf {
namespace {

// A deployment's replicas as the scaler needs them.
struct Counts {
  int ready = 0;
  int starting = 0;
  std::map<std::string, int> gpu_models;
  // Over the Ready replicas whose engine load is known.
  int engines_reporting = 0;
  std::optional<int> running;
  std::optional<int> waiting;
  double kv_sum = 0;
  int kv_reporting = 0;
  void add_engine(const ReplicaLoad& l) {
    ++engines_reporting;
    if (l.running) running = running.value_or(0) + *l.running;
    if (l.waiting) waiting = waiting.value_or(0) + *l.waiting;
    if (l.kv_cache_usage) {
      kv_sum += *l.kv_cache_usage;
      ++kv_reporting;
    }
  }
  void fill_engine_signals(LoadSample& s) const {
    s.engines_reporting = engines_reporting;
    s.engine_running = running;
    s.engine_waiting = waiting;
    s.engine_kv_cache_usage =
        kv_reporting > 0 ? std::optional<double>(kv_sum / kv_reporting) : std::nullopt;
  }
  std::string main_gpu() const {
    std::string best;
    int n = 0;
    for (const auto& [m, c] : gpu_models) {
      if (c > n) best = m, n = c;
    }
    return best;
  }
};

std::map<std::string, Counts, std::less<>> count_replicas(const Fleet& fleet, TimePoint now) {
  std::map<std::string, Counts, std::less<>> out;
  for (const auto& [id, r] : fleet.replicas()) {
    Counts& c = out[r.deployment];
    switch (r.state) {
      case ReplicaState::kReady:
        ++c.ready;
        if (const ReplicaLoad* l = fleet.fresh_load(r, now)) c.add_engine(*l);
        break;
      case ReplicaState::kPending:
      case ReplicaState::kPlaced:
      case ReplicaState::kStarting:
        ++c.starting;
        break;
      default:
        continue;
    }
    if (!r.gpu_model.empty()) ++c.gpu_models[r.gpu_model];
  }
  return out;
}

// One deployment's part of its model's load, when several deployments serve one model: by its
// share of the Ready replicas (equal shares while none is Ready).
LoadSample share_of(LoadSample s, double share) {
  s.arrival_rps *= share;
  s.prompt_tps *= share;
  s.output_tps *= share;
  s.queued *= share;
  s.in_flight *= share;
  return s;
}

}  // namespace

void Autoscaler::record(const TrafficReport& report, TimePoint now) {
  load_.record(report, now);
  for (const ReportedDemand& d : report.demand) {
    if ((d.queued > 0 || d.arrivals > 0) && zero_models_.contains(d.model)) urgent_ = true;
  }
}

void Autoscaler::sync(Fleet& fleet, TimePoint now) {
  for (auto it = scalers_.begin(); it != scalers_.end();) {
    auto d = fleet.deployments().find(it->first);
    if (d == fleet.deployments().end() || !d->second.spec.autoscaling) {
      model_of_.erase(it->first);
      engine_new_.erase(it->first);
      it = scalers_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [name, d] : fleet.deployments()) {
    if (!d.spec.autoscaling) continue;
    const AutoscalingSpec& spec = *d.spec.autoscaling;
    model_of_[name] = d.spec.model;
    auto it = scalers_.find(name);
    if (it != scalers_.end() && spec.policy == it->second.policy()) {
      it->second.respec(spec);
      continue;
    }
    // New, or another policy: a fresh scaler (a policy's learned state means nothing to another).
    // The manifest reader checked the name, so an error here is a stored manifest from a newer
    // version; such a deployment keeps its count.
    auto scaler = DeploymentScaler::create(name, spec, now);
    if (!scaler) continue;
    if (it != scalers_.end()) scalers_.erase(it);
    scalers_.emplace(name, std::move(*scaler));
  }
  rank_gpus(fleet);
}

void Autoscaler::rank_gpus(Fleet& fleet) {
  std::erase_if(ranked_for_, [&](const auto& kv) { return !scalers_.contains(kv.first); });
  for (const auto& [name, s] : scalers_) {
    const DeploymentSpec& d = fleet.deployments().at(name).spec;
    const size_t pool_gpus = fleet.pool().gpu_count();
    // Compared field by field every tick, with no copy; stored only when something moved.
    if (auto it = ranked_for_.find(name);
        it != ranked_for_.end() && it->second.pool_gpus == pool_gpus &&
        it->second.model == d.model && it->second.gpus == d.resources.gpus &&
        it->second.gpu_models == d.resources.gpu_models)
      continue;
    RankedFor& ranked = ranked_for_[name] =
        RankedFor{pool_gpus, d.model, d.resources.gpus, d.resources.gpu_models,
                  gpu_models_by_value(d, fleet.pool())};
    fleet.set_gpu_order(name, ranked.order);
  }
}

void Autoscaler::count_engine_histograms(const Fleet& fleet, TimePoint now) {
  // Updated in place, not rebuilt: each reading is compared with the last, in the same vectors.
  ++sweep_;
  // A histogram's first reading is only the baseline; one unknown now (not Ready, a stale
  // reading, an engine that does not export it) keeps the last reading as the baseline. An engine
  // that restarted counts from zero in both: a drop in either says so for both, since the other
  // may have counted past its old totals already.
  const auto dropped = [](const std::vector<uint64_t>& last, const std::vector<uint64_t>& reading) {
    return !last.empty() && !reading.empty() && counts_dropped(last, reading);
  };
  static const std::vector<uint64_t> kFromZero;
  const auto count = [](std::vector<uint64_t>& last, const std::vector<uint64_t>& reading,
                        bool restarted, std::vector<uint64_t>& into) {
    if (reading.empty()) {
      // Not read this time (a series an engine creates lazily): after a restart it counts from
      // zero, whatever it counted before.
      if (restarted) std::fill(last.begin(), last.end(), 0);
      return;
    }
    if (!last.empty()) add_counted_since(restarted ? kFromZero : last, reading, into);
    last = reading;
  };
  for (const auto& [id, r] : fleet.replicas()) {
    if (!scalers_.contains(r.deployment)) continue;
    const ReplicaLoad* l = fleet.fresh_load(r, now);
    auto it = engine_seen_.find(id);
    if (!l || (l->ttft_counts.empty() && l->queue_counts.empty())) {
      if (it != engine_seen_.end()) it->second.sweep = sweep_;
      continue;
    }
    Seen& seen = it != engine_seen_.end() ? it->second : engine_seen_[id];
    seen.sweep = sweep_;
    EngineHistograms& into = engine_new_[r.deployment];
    const bool restarted =
        dropped(seen.counts.ttft, l->ttft_counts) || dropped(seen.counts.queue, l->queue_counts);
    count(seen.counts.ttft, l->ttft_counts, restarted, into.ttft);
    count(seen.counts.queue, l->queue_counts, restarted, into.queue);
  }
  // Replicas gone are forgotten.
  std::erase_if(engine_seen_, [&](const auto& e) { return e.second.sweep != sweep_; });
}

std::vector<ScalingDecision> Autoscaler::tick(Fleet& fleet, TimePoint now) {
  sync(fleet, now);
  std::vector<ScalingDecision> out;
  if (scalers_.empty()) return out;
  count_engine_histograms(fleet, now);
  const auto counts = count_replicas(fleet, now);
  const auto& deployments = fleet.deployments();
  auto target_of = [&](const std::string& name) { return deployments.at(name).replicas; };

  // Which models have a deployment due: the period ended, or it waits at zero with demand.
  std::set<std::string, std::less<>> due_models;
  for (const auto& [name, s] : scalers_) {
    const std::string& model = model_of_.at(name);
    if (now >= s.next_period() || (urgent_ && target_of(name) == 0 && load_.queued(model, now) > 0))
      due_models.insert(model);
  }
  urgent_ = false;
  for (const std::string& model : due_models) {
    const LoadSample sample = load_.take(model, now);
    std::vector<std::string> names;
    int ready_total = 0;
    for (const auto& [name, m] : model_of_) {
      if (m != model) continue;
      names.push_back(name);
      if (auto c = counts.find(name); c != counts.end()) ready_total += c->second.ready;
    }
    for (const std::string& name : names) {
      const Counts c = counts.contains(name) ? counts.find(name)->second : Counts{};
      const double share = ready_total > 0 ? static_cast<double>(c.ready) / ready_total
                                           : 1.0 / static_cast<double>(names.size());
      LoadSample s = share_of(sample, share);
      s.ready = c.ready;
      s.starting = c.starting;
      c.fill_engine_signals(s);  // the deployment's own engines: no share to take
      if (auto t = engine_new_.find(name); t != engine_new_.end()) {
        s.engine_ttft_counts = std::move(t->second.ttft);
        s.engine_queue_counts = std::move(t->second.queue);
        engine_new_.erase(t);
        const double p95 = ttft_p95_interpolated_ms(s.engine_ttft_counts);
        if (p95 >= 0) s.engine_ttft_p95_ms = p95;
        const double queue_p95 = ttft_p95_interpolated_ms(s.engine_queue_counts);
        if (queue_p95 >= 0) s.engine_queue_p95_ms = queue_p95;
      }
      const DeploymentRecord& d = deployments.at(name);
      DeploymentState state{d.replicas, d.spec.replicas, c.main_gpu()};
      DeploymentScaler& scaler = scalers_.at(name);
      if (scaler.uses_perf_model()) {
        // Before any replica is placed there is no main GPU model; the work metric then prices
        // on the one the fleet would grow on first, rather than fall back to requests/s.
        std::string gpu = state.gpu_model;
        if (gpu.empty() && scaler.spec().metric == ScalingMetric::kWork) {
          const std::vector<std::string>& order = ranked_for_.at(name).order;  // sync() ranked it
          if (!order.empty()) gpu = order.front();
        }
        // The scaler prices a replica's capacity from it at the size window's request sizes.
        if (auto pm = deployment_perf_model(d.spec, gpu); pm.ok()) state.perf = std::move(*pm);
      }
      ScalingDecision decision = scaler.step(s, state, now);
      if (decision.changed()) {
        const std::string why =
            fmt::format("autoscaler ({}, {}): {}", decision.policy, decision.rule, decision.reason);
        if (!fleet.scale(name, decision.to, now, why)) decision.to = decision.from;
      }
      out.push_back(std::move(decision));
    }
  }
  zero_models_.clear();
  for (const auto& [name, s] : scalers_) {
    if (deployments.at(name).replicas == 0) zero_models_.insert(model_of_.at(name));
  }
  return out;
}

std::optional<TimePoint> Autoscaler::next_deadline(const Fleet& fleet) const {
  if (urgent_) return TimePoint{};  // already past: a deployment at zero has requests waiting
  for (const auto& [name, d] : fleet.deployments()) {
    if (d.spec.autoscaling && !scalers_.contains(name)) return TimePoint{};  // new: start it
  }
  std::optional<TimePoint> next;
  for (const auto& [name, s] : scalers_) {
    if (!next || s.next_period() < *next) next = s.next_period();
  }
  return next;
}

const DeploymentScaler* Autoscaler::scaler(std::string_view deployment) const {
  auto it = scalers_.find(deployment);
  return it == scalers_.end() ? nullptr : &it->second;
}

}  // namespace gf
