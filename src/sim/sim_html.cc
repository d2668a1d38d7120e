#include "sim/sim_html.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace gf {
namespace {

constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#17becf", "#bcbd22"};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;
  bool step = false;  // hold each value until the next point (replica counts)
};

// A line chart in SVG: axes with a few round ticks, one polyline per series, a legend.
std::string chart(const std::string& title, const std::string& x_label, const std::string& y_label,
                  const std::vector<Series>& series, bool log_x = false) {
  constexpr double W = 760, H = 300, L = 60, R = 150, T = 30, B = 45;
  double x0 = INFINITY, x1 = -INFINITY, y1 = 0;
  const auto fx = [&](double x) { return log_x ? std::log10(std::max(x, 1e-3)) : x; };
  for (const Series& s : series)
    for (const auto& [x, y] : s.points) {
      x0 = std::min(x0, fx(x));
      x1 = std::max(x1, fx(x));
      y1 = std::max(y1, y);
    }
  std::string out = fmt::format(
      "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" "
      "xmlns=\"http://www.w3.org/2000/svg\">",
      escape(title), W, H, W, H);
  if (!(x1 > x0)) {
    x0 = std::isfinite(x0) ? x0 - 1 : 0;
    x1 = x0 + 2;
  }
  if (y1 <= 0) y1 = 1;
  y1 *= 1.05;
  const auto px = [&](double x) { return L + (fx(x) - x0) / (x1 - x0) * (W - L - R); };
  const auto py = [&](double y) { return H - B - y / y1 * (H - T - B); };
  out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"axis\"/>", L, H - B,
                     W - R, H - B);
  out +=
      fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"axis\"/>", L, T, L, H - B);
  for (int i = 0; i <= 4; ++i) {
    const double y = y1 / 1.05 * i / 4;
    out += fmt::format("<text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"end\">{:.3g}</text>",
                       L - 6, py(y) + 4, y);
    out += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" class=\"grid\"/>", L,
                       py(y), W - R, py(y));
    const double xv = x0 + (x1 - x0) * i / 4;
    const double label = log_x ? std::pow(10, xv) : xv;
    out += fmt::format(
        "<text x=\"{:.1f}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">{:.3g}</text>",
        L + (xv - x0) / (x1 - x0) * (W - L - R), H - B + 16, label);
  }
  out += fmt::format("<text x=\"{}\" y=\"{}\" class=\"label\" text-anchor=\"middle\">{}</text>",
                     (L + W - R) / 2, H - 8, escape(x_label));
  out += fmt::format(
      "<text x=\"14\" y=\"{}\" class=\"label\" text-anchor=\"middle\" transform=\"rotate(-90 14 "
      "{})\">{}</text>",
      (T + H - B) / 2, (T + H - B) / 2, escape(y_label));
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    const char* color = kColors[i % std::size(kColors)];
    std::string pts;
    for (size_t k = 0; k < s.points.size(); ++k) {
      if (s.step && k > 0)
        pts += fmt::format("{:.1f},{:.1f} ", px(s.points[k].first), py(s.points[k - 1].second));
      pts += fmt::format("{:.1f},{:.1f} ", px(s.points[k].first), py(s.points[k].second));
    }
    out += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>",
                       pts, color);
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"3\" fill=\"{}\"/>",
                       W - R + 12, T + 14 * i + 4, color);
    out += fmt::format("<text x=\"{}\" y=\"{}\" class=\"tick\">{}</text>", W - R + 28,
                       T + 14 * i + 9, escape(s.name));
  }
  return out + "</svg></figure>\n";
}

}  // namespace

std::string report_html(const SimReport& report) {
  const Trace& trace = *report.trace;
  std::string out =
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>gpufleet sim: " +
      escape(trace.name) +
      "</title><style>body{font:14px sans-serif;margin:2em;max-width:900px}"
      "table{border-collapse:collapse}td,th{padding:3px 8px;border-bottom:1px solid #ddd;"
      "text-align:right}th:first-child,td:first-child{text-align:left}"
      "figure{margin:1.5em 0}figcaption{font-weight:bold;margin-bottom:4px}"
      ".axis{stroke:#333}.grid{stroke:#eee}.tick{font-size:11px;fill:#333}"
      ".label{font-size:12px;fill:#333}pre{white-space:pre-wrap}</style></head><body>\n";
  out += "<h1>gpufleet sim: " + escape(trace.name) + "</h1>\n";
  out += "<pre>" + escape(report_table(report)) + "</pre>\n";

  // Load: arrivals per minute of the trace.
  Series load{"arrivals", {}, true};
  std::map<int64_t, int> per_minute;
  for (const TraceRequest& r : trace.requests)
    ++per_minute[std::chrono::duration_cast<std::chrono::minutes>(r.arrival).count()];
  for (const auto& [m, n] : per_minute)
    load.points.emplace_back(m, n / 60.0);
  out += chart("Load: requests per second, by minute", "minutes since the trace's start", "req/s",
               {load});

  // Replicas over time, all deployments together, per policy.
  std::vector<Series> replicas;
  for (const SimResult& run : report.runs) {
    Series s{run.policy, {}, true};
    for (const TimelinePoint& p : run.timeline) {
      int n = 0;
      for (int r : p.replicas)
        n += r;
      s.points.emplace_back(p.t / 60, n);
    }
    if (!s.points.empty())
      s.points.emplace_back(run.simulated_seconds / 60, s.points.back().second);
    replicas.push_back(std::move(s));
  }
  out += chart("Replicas started, per policy", "minutes since the trace's start", "replicas",
               replicas);

  // Latency CDFs.
  const auto cdf = [&](auto field) {
    std::vector<Series> v;
    for (const SimResult& run : report.runs) {
      Series s{run.policy, {}, false};
      const std::vector<double>& q = run.*field;
      for (size_t p = 0; p < q.size(); ++p)
        s.points.emplace_back(q[p], static_cast<double>(p));
      v.push_back(std::move(s));
    }
    return v;
  };
  out += chart("Time to first token: share of requests at or below (log scale)", "TTFT, ms",
               "% of served requests", cdf(&SimResult::ttft_cdf_ms), true);
  out += chart("Time per output token: share of requests at or below (log scale)", "TPOT, ms",
               "% of served requests", cdf(&SimResult::tpot_cdf_ms), true);

  // GPUs held by GPU model, one chart per policy.
  for (const SimResult& run : report.runs) {
    std::set<std::string> models;
    for (const TimelinePoint& p : run.timeline)
      for (const auto& [m, n] : p.gpus)
        models.insert(m);
    std::vector<Series> v;
    for (const std::string& m : models) {
      Series s{m, {}, true};
      for (const TimelinePoint& p : run.timeline) {
        auto it = p.gpus.find(m);
        s.points.emplace_back(p.t / 60, it == p.gpus.end() ? 0 : it->second);
      }
      if (!s.points.empty())
        s.points.emplace_back(run.simulated_seconds / 60, s.points.back().second);
      v.push_back(std::move(s));
    }
    out += chart("GPUs held by GPU model: " + run.policy, "minutes since the trace's start", "GPUs",
                 v);
  }
  out +=
      "<p>Made by <code>gpufleet sim</code>; figures and the lower bound are explained in "
      "docs/simulator.md.</p></body></html>\n";
  return out;
}

}  // namespace gf
