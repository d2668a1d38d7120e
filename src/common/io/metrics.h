// Prometheus metrics: counter, gauge and histogram families with labels, rendered as text 0.0.4.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace gf {

using LabelValues = std::vector<std::string>;

// Monotonic. Names must end in _total.
class Counter {
 public:
  void inc(double v = 1);
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void inc(double v = 1) { v_.fetch_add(v, std::memory_order_relaxed); }
  void dec(double v = 1) { v_.fetch_sub(v, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  // bounds: finite, strictly increasing upper bounds; the +Inf bucket is implicit. They belong to
  // the family, which outlives its children.
  explicit Histogram(const std::vector<double>& bounds);

  void observe(double v);
  // Per-bucket counts, not cumulative; the last one is the +Inf bucket.
  std::vector<uint64_t> bucket_counts() const;
  uint64_t count() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double>& bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

// Prometheus client defaults, in seconds: fine for request latencies.
std::vector<double> default_buckets();
// start, start*factor, ... (count bounds).
std::vector<double> exponential_buckets(double start, double factor, int count);

enum class MetricType { kCounter, kGauge, kHistogram, kCallbackGauge };

class MetricFamily {
 public:
  MetricFamily(MetricType type, std::string name, std::string help, std::vector<std::string> labels,
               std::vector<double> bounds);
  virtual ~MetricFamily() = default;
  MetricFamily(const MetricFamily&) = delete;
  MetricFamily& operator=(const MetricFamily&) = delete;

  MetricType type() const { return type_; }
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return labels_; }
  const std::vector<double>& bounds() const { return bounds_; }

  // Appends # HELP, # TYPE and the samples.
  void render(std::string& out) const;

 protected:
  virtual void render_samples(std::string& out) const = 0;
  // Copies values, one per label name. A wrong count is a bug: asserts, then pads or truncates.
  LabelValues fit(const LabelValues& values) const;

 private:
  MetricType type_;
  std::string name_;
  std::string help_;
  std::vector<std::string> labels_;
  std::vector<double> bounds_;  // histograms only
};

template <class Metric>
class Family final : public MetricFamily {
 public:
  Family(std::string name, std::string help, std::vector<std::string> labels,
         std::vector<double> bounds = {});

  // The child for these label values, created on first use. It lives as long as the registry, so
  // hot paths should keep the reference instead of paying for this lookup on every update.
  Metric& with(const LabelValues& values);
  // Drops every child whose `label` is `value` (a replica that left), so label sets that never
  // come back do not pile up. References from with() to those children dangle afterwards.
  void erase_label(const std::string& label, const std::string& value);

 protected:
  void render_samples(std::string& out) const override;

 private:
  mutable std::mutex mu_;
  std::map<LabelValues, std::unique_ptr<Metric>> children_;  // ordered: deterministic output
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// A gauge whose children read their value at render time, for state that already lives elsewhere
// (queue lengths, GPU counts) and would otherwise have to be copied into a Gauge on every change.
class CallbackGaugeFamily final : public MetricFamily {
 public:
  CallbackGaugeFamily(std::string name, std::string help, std::vector<std::string> labels);

  // Adds or replaces the child. fn runs under this family's lock during render, so it must not
  // call into this family; remove() the child before whatever fn reads is destroyed.
  void set(const LabelValues& values, std::function<double()> fn);
  void remove(const LabelValues& values);

 protected:
  void render_samples(std::string& out) const override;

 private:
  mutable std::mutex mu_;
  std::map<LabelValues, std::function<double()>> children_;
};

// Owns the families. Registering a name again with the same type, labels (and buckets) returns the
// existing family, so components can register independently; any other reuse is an error.
class Registry {
 public:
  Result<CounterFamily*> counter(std::string_view name, std::string_view help,
                                 std::vector<std::string> labels = {});
  Result<GaugeFamily*> gauge(std::string_view name, std::string_view help,
                             std::vector<std::string> labels = {});
  Result<HistogramFamily*> histogram(std::string_view name, std::string_view help,
                                     std::vector<std::string> labels, std::vector<double> buckets);
  Result<CallbackGaugeFamily*> callback_gauge(std::string_view name, std::string_view help,
                                              std::vector<std::string> labels = {});

  // Text exposition format 0.0.4, families sorted by name, children by label values.
  std::string render() const;

 private:
  Result<MetricFamily*> add(std::unique_ptr<MetricFamily> family);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<MetricFamily>, std::less<>> families_;
};

// Sample value as the exposition format wants it: integers without a decimal point, otherwise the
// shortest round-trip form; +Inf, -Inf and NaN spelled out.
std::string format_metric_value(double v);

}  // namespace gf
