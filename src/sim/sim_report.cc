#include "sim/sim_report.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

namespace gf {
namespace {

using nlohmann::ordered_json;

// Rounded for a stable, readable document: 4 significant decimals are far below the model's error.
double r4(double v) {
  return std::round(v * 1e4) / 1e4;
}

ordered_json latency(const LatencySummary& s) {
  return {{"p50", r4(s.p50)}, {"p95", r4(s.p95)}, {"p99", r4(s.p99)}};
}

double vs_bound(double gpu_hours, const WorkBound& b) {
  return b.lower_bound_gpu_hours > 0 ? gpu_hours / b.lower_bound_gpu_hours : 0;
}

ordered_json figures(const RunFigures& f, const WorkBound& b) {
  return {{"slo_attainment", r4(f.slo_attainment)},
          {"gpu_hours", r4(f.gpu_hours)},
          {"gpu_hours_vs_lower_bound", r4(vs_bound(f.gpu_hours, b))},
          {"cost", r4(f.cost)},
          {"ttft_ms", latency(f.ttft_ms)},
          {"tpot_ms", latency(f.tpot_ms)},
          {"e2e_ms", latency(f.e2e_ms)},
          {"requests", f.requests},
          {"served", f.served},
          {"missed_ttft", f.missed_ttft},
          {"missed_ttft_waiting", f.missed_ttft_waiting},
          {"missed_ttft_prefill", f.missed_ttft_prefill},
          {"missed_tpot", f.missed_tpot},
          {"rejected", f.rejected},
          {"failed", f.failed},
          {"scaling_actions", f.scaling_actions},
          {"cold_starts", f.cold_starts},
          {"engine_restarts", f.engine_restarts},
          {"max_replicas", f.max_replicas},
          {"gpu_utilization", r4(f.gpu_utilization)}};
}

}  // namespace

std::string report_json(const SimReport& report) {
  const TraceStats stats = summarize(*report.trace);
  ordered_json j;
  j["trace"] = {{"name", report.trace->name},
                {"requests", stats.requests},
                {"duration_s", r4(std::chrono::duration<double>(stats.duration).count())},
                {"mean_rps", r4(stats.mean_rps)},
                {"peak_rps", r4(stats.peak_rps)}};
  j["slo"] = {{"ttft_ms", to_ms(report.options.slo.ttft)},
              {"tpot_ms", to_ms(report.options.slo.tpot)},
              {"attainment_goal", report.options.attainment_goal}};
  j["seed"] = report.seed;
  j["max_tokens"] = report.options.exact_max_tokens ? "exact" : "none";
  j["chunked_prefill"] = report.options.chunked_prefill;
  j["max_batched_tokens"] = report.iteration_budgets;
  j["lower_bound_gpu_hours"] = r4(report.bound.lower_bound_gpu_hours);
  j["work_floor_gpu_hours"] = r4(report.bound.work_floor_gpu_hours);
  j["lower_bound_cost"] = r4(report.bound.lower_bound_cost);
  j["max_attainment"] = r4(report.bound.max_attainment());
  j["unservable_requests"] = report.bound.unservable;
  j["beyond_slo_requests"] = report.bound.beyond_slo;
  ordered_json policies = ordered_json::object();
  for (const SimResult& run : report.runs) {
    ordered_json p = figures(run.overall, report.bound);
    ordered_json per = ordered_json::object();
    for (const DeploymentFigures& d : run.deployments)
      per[d.name] = figures(d.figures, report.bound);
    p["deployments"] = per;
    // Replicas over time, all deployments together: a point per control period with a change.
    ordered_json timeline = ordered_json::array();
    for (const TimelinePoint& t : run.timeline) {
      int started = 0, ready = 0;
      for (int n : t.replicas)
        started += n;
      for (int n : t.ready)
        ready += n;
      timeline.push_back({{"t", r4(t.t)}, {"replicas", started}, {"ready", ready}});
    }
    p["timeline"] = timeline;
    policies[run.policy] = p;
  }
  j["policies"] = policies;
  return j.dump(2) + "\n";
}

std::string report_table(const SimReport& report) {
  const TraceStats stats = summarize(*report.trace);
  const WorkBound& b = report.bound;
  std::string out = describe(*report.trace, stats) + "\n";
  out += fmt::format(
      "SLO: TTFT <= {:.0f} ms and time per output token <= {:.0f} ms; goal {:.1f}% of requests\n",
      to_ms(report.options.slo.ttft), to_ms(report.options.slo.tpot),
      report.options.attainment_goal * 100);
  for (const auto& [name, by_gpu] : report.iteration_budgets) {
    std::vector<std::string> parts;
    for (const auto& [gpu, tokens] : by_gpu)
      parts.push_back(fmt::format("{} on {}", tokens, gpu));
    out +=
        fmt::format("engines of {}: {} prefill; iteration budget (tokens) {}\n", name,
                    report.options.chunked_prefill ? "chunked" : "whole", fmt::join(parts, ", "));
  }
  out += fmt::format(
      "lower bound {:.3f} GPU-hours (${:.2f}); work floor {:.3f} GPU-hours "
      "(docs/simulator.md, \"The lower bound\")\n",
      b.lower_bound_gpu_hours, b.lower_bound_cost, b.work_floor_gpu_hours);
  if (b.unservable + b.beyond_slo > 0)
    out += fmt::format(
        "at most {:.2f}% of requests can meet the SLO under any policy: {} exceed every replica's "
        "KV cache, {} miss it even alone on an idle replica\n",
        b.max_attainment() * 100, b.unservable, b.beyond_slo);
  out += "\n";
  // The policy column is as wide as its longest name ("predictive/work"), at least 11.
  size_t width = 11;
  for (const SimResult& run : report.runs)
    width = std::max(width, run.policy.size());
  // LATE WAIT/PREFILL: the late first tokens whose wait for a place in a batch was the longer
  // part of their TTFT (more replicas shorten that) against those whose prefill was.
  out += fmt::format("{:<{}} {:>8} {:>9} {:>7} {:>9} {:>22} {:>9} {:>6} {:>6} {:>7} {:>5} {:>18}\n",
                     "POLICY", width, "SLO MET", "GPU-H", "xBOUND", "COST $", "TTFT p50/p95/p99 ms",
                     "TPOT p95", "REJ", "FAIL", "SCALED", "COLD", "LATE WAIT/PREFILL");
  for (const SimResult& run : report.runs) {
    const RunFigures& f = run.overall;
    out += fmt::format(
        "{:<{}} {:>7.2f}% {:>9.3f} {:>7.2f} {:>9.2f} {:>22} {:>9.1f} {:>6} {:>6} {:>7} {:>5} "
        "{:>18}\n",
        run.policy, width, f.slo_attainment * 100, f.gpu_hours, vs_bound(f.gpu_hours, b), f.cost,
        fmt::format("{:.0f}/{:.0f}/{:.0f}", f.ttft_ms.p50, f.ttft_ms.p95, f.ttft_ms.p99),
        f.tpot_ms.p95, f.rejected, f.failed, f.scaling_actions, f.cold_starts,
        fmt::format("{}/{}", f.missed_ttft_waiting, f.missed_ttft_prefill));
  }
  return out;
}

namespace {

std::string mix_text(const std::map<std::string, int>& gpus) {
  std::string out;
  for (const auto& [model, n] : gpus)
    if (n > 0) out += fmt::format("{}{} x {}", out.empty() ? "" : " + ", n, model);
  return out.empty() ? "none" : out;
}

}  // namespace

std::string plan_table(const SimReport& report, const CapacityPlan& plan) {
  std::string out = describe(*report.trace, summarize(*report.trace)) + "\n";
  out += fmt::format(
      "SLO: TTFT <= {:.0f} ms and time per output token <= {:.0f} ms for {:.1f}% of requests; "
      "policy {}; {} simulations\n",
      to_ms(report.options.slo.ttft), to_ms(report.options.slo.tpot),
      report.options.attainment_goal * 100, plan.policy, plan.simulations);
  if (plan.found()) {
    const PlanOption& best = plan.options.front();
    out += fmt::format("cheapest that meets it: {} at ${:.2f}/hour (${:.2f} over the trace)\n\n",
                       mix_text(best.gpus), best.cost_per_hour, best.cost);
  } else {
    out += "no mix tried meets it: more GPUs than the search's ceiling, or a looser SLO\n\n";
  }
  out += fmt::format("{:<40} {:>9} {:>10} {:>9} {:>9}  {}\n", "GPUS", "$/HOUR", "$ TRACE",
                     "SLO MET", "USED GPU-H", "");
  size_t shown = 0;
  for (const PlanOption& o : plan.options) {
    if (shown++ == 8) break;  // the best and its runners-up
    out += fmt::format("{:<40} {:>9.2f} {:>10.2f} {:>8.2f}% {:>9.3f}  {}\n", mix_text(o.gpus),
                       o.cost_per_hour, o.cost, o.slo_attainment * 100, o.gpu_hours,
                       o.meets ? (shown == 1 ? "best" : "meets") : "misses");
  }
  return out;
}

std::string plan_json(const SimReport& report, const CapacityPlan& plan) {
  ordered_json j;
  j["trace"] = report.trace->name;
  j["policy"] = plan.policy;
  j["slo"] = {{"ttft_ms", to_ms(report.options.slo.ttft)},
              {"tpot_ms", to_ms(report.options.slo.tpot)},
              {"attainment_goal", report.options.attainment_goal}};
  j["max_tokens"] = report.options.exact_max_tokens ? "exact" : "none";
  j["chunked_prefill"] = report.options.chunked_prefill;
  j["simulations"] = plan.simulations;
  j["found"] = plan.found();
  ordered_json options = ordered_json::array();
  for (const PlanOption& o : plan.options) {
    options.push_back({{"gpus", o.gpus},
                       {"cost_per_hour", r4(o.cost_per_hour)},
                       {"cost", r4(o.cost)},
                       {"slo_attainment", r4(o.slo_attainment)},
                       {"gpu_hours", r4(o.gpu_hours)},
                       {"meets", o.meets}});
  }
  j["options"] = options;
  return j.dump(2) + "\n";
}

}  // namespace gf
