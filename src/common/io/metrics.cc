#include "common/io/metrics.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <iterator>

#include <fmt/format.h>

namespace gf {

namespace {

void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0) {  // 2^53: exact in int64
    fmt::format_to(std::back_inserter(out), "{}", static_cast<int64_t>(v));
  } else {
    fmt::format_to(std::back_inserter(out), "{}", v);
  }
}

void append_escaped(std::string& out, std::string_view s, bool escape_quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// name{a="x",b="y",le="0.5"} value\n. le is empty when there is none.
void append_sample(std::string& out, std::string_view name, std::string_view suffix,
                   const std::vector<std::string>& names, const LabelValues& values,
                   std::string_view le, double v) {
  out += name;
  out += suffix;
  if (!names.empty() || !le.empty()) {
    out += '{';
    for (size_t i = 0; i < names.size(); ++i) {
      if (i > 0) out += ',';
      out += names[i];
      out += "=\"";
      append_escaped(out, values[i], true);
      out += '"';
    }
    if (!le.empty()) {
      if (!names.empty()) out += ',';
      out += "le=\"";
      out += le;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  append_value(out, v);
  out += '\n';
}

bool valid_name(std::string_view s, bool allow_colon) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

Status validate(MetricType type, std::string_view name, const std::vector<std::string>& labels,
                const std::vector<double>& bounds) {
  if (!valid_name(name, true)) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("metric name '{}' must match [a-zA-Z_:][a-zA-Z0-9_:]*", name));
  }
  if (type == MetricType::kCounter && !name.ends_with("_total")) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("counter '{}' must end in _total", name));
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    const std::string& l = labels[i];
    if (!valid_name(l, false) || l.starts_with("__")) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("label '{}' of metric '{}' must match [a-zA-Z_][a-zA-Z0-9_]* "
                                    "and not start with __",
                                    l, name));
    }
    // Reserved everywhere, not just in histograms: a gauge with le would read like a bucket.
    if (l == "le") {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("label 'le' of metric '{}' is reserved for histograms", name));
    }
    if (std::count(labels.begin(), labels.end(), l) > 1) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("label '{}' appears twice in metric '{}'", l, name));
    }
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("buckets of histogram '{}' must be finite and strictly "
                                    "increasing; the +Inf bucket is implicit",
                                    name));
    }
  }
  return {};
}

const char* type_name(MetricType t) {
  switch (t) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kGauge:
    case MetricType::kCallbackGauge:
      return "gauge";
  }
  return "untyped";
}

template <class Metric>
constexpr MetricType type_of();
template <>
constexpr MetricType type_of<Counter>() {
  return MetricType::kCounter;
}
template <>
constexpr MetricType type_of<Gauge>() {
  return MetricType::kGauge;
}
template <>
constexpr MetricType type_of<Histogram>() {
  return MetricType::kHistogram;
}

template <class F>
Result<F*> downcast(Result<MetricFamily*> r) {
  if (!r) return r.error();
  return static_cast<F*>(*r);
}

}  // namespace

std::string format_metric_value(double v) {
  std::string out;
  append_value(out, v);
  return out;
}

void Counter::inc(double v) {
  assert(v >= 0 && "counters only go up");
  if (!(v >= 0)) return;
  v_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i)
    buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  // le means "less than or equal": the first bound >= v. NaN compares false, so it goes to +Inf.
  size_t i = std::isnan(v) ? bounds_.size()
                           : std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::bucket_counts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

uint64_t Histogram::count() const {
  uint64_t n = 0;
  for (uint64_t c : bucket_counts())
    n += c;
  return n;
}

std::vector<double> default_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> exponential_buckets(double start, double factor, int count) {
  std::vector<double> out;
  for (int i = 0; i < count; ++i, start *= factor)
    out.push_back(start);
  return out;
}

MetricFamily::MetricFamily(MetricType type, std::string name, std::string help,
                           std::vector<std::string> labels, std::vector<double> bounds)
    : type_(type),
      name_(std::move(name)),
      help_(std::move(help)),
      labels_(std::move(labels)),
      bounds_(std::move(bounds)) {}

void MetricFamily::render(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  append_escaped(out, help_, false);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_name(type_);
  out += '\n';
  render_samples(out);
}

LabelValues MetricFamily::fit(const LabelValues& values) const {
  assert(values.size() == labels_.size() && "one value per label name");
  LabelValues v = values;
  v.resize(labels_.size());
  return v;
}

template <class Metric>
Family<Metric>::Family(std::string name, std::string help, std::vector<std::string> labels,
                       std::vector<double> bounds)
    : MetricFamily(type_of<Metric>(), std::move(name), std::move(help), std::move(labels),
                   std::move(bounds)) {
  // A family without labels has exactly one child; show it (as 0) before its first update.
  if (label_names().empty()) with({});
}

template <class Metric>
Metric& Family<Metric>::with(const LabelValues& values) {
  LabelValues key = fit(values);
  std::lock_guard lock(mu_);
  auto it = children_.find(key);
  if (it == children_.end()) {
    std::unique_ptr<Metric> m;
    if constexpr (std::is_same_v<Metric, Histogram>) {
      m = std::make_unique<Histogram>(bounds());
    } else {
      m = std::make_unique<Metric>();
    }
    it = children_.emplace(std::move(key), std::move(m)).first;
  }
  return *it->second;
}

template <class Metric>
void Family<Metric>::erase_label(const std::string& label, const std::string& value) {
  const auto& names = label_names();
  auto pos = std::find(names.begin(), names.end(), label);
  if (pos == names.end()) return;
  const size_t i = static_cast<size_t>(pos - names.begin());
  std::lock_guard lock(mu_);
  std::erase_if(children_, [&](const auto& child) { return child.first[i] == value; });
}

template <class Metric>
void Family<Metric>::render_samples(std::string& out) const {
  std::lock_guard lock(mu_);
  for (const auto& [values, m] : children_) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      std::vector<uint64_t> counts = m->bucket_counts();
      uint64_t cumulative = 0;
      for (size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        std::string le = i < bounds().size() ? format_metric_value(bounds()[i]) : "+Inf";
        append_sample(out, name(), "_bucket", label_names(), values, le, cumulative);
      }
      append_sample(out, name(), "_sum", label_names(), values, {}, m->sum());
      // From the same bucket reads, so _count always equals the +Inf bucket.
      append_sample(out, name(), "_count", label_names(), values, {}, cumulative);
    } else {
      append_sample(out, name(), "", label_names(), values, {}, m->value());
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

CallbackGaugeFamily::CallbackGaugeFamily(std::string name, std::string help,
                                         std::vector<std::string> labels)
    : MetricFamily(MetricType::kCallbackGauge, std::move(name), std::move(help), std::move(labels),
                   {}) {}

void CallbackGaugeFamily::set(const LabelValues& values, std::function<double()> fn) {
  LabelValues key = fit(values);
  std::lock_guard lock(mu_);
  children_[std::move(key)] = std::move(fn);
}

void CallbackGaugeFamily::remove(const LabelValues& values) {
  LabelValues key = fit(values);
  std::lock_guard lock(mu_);
  children_.erase(key);
}

void CallbackGaugeFamily::render_samples(std::string& out) const {
  std::lock_guard lock(mu_);
  for (const auto& [values, fn] : children_) {
    append_sample(out, name(), "", label_names(), values, {}, fn());
  }
}

Result<MetricFamily*> Registry::add(std::unique_ptr<MetricFamily> family) {
  std::lock_guard lock(mu_);
  auto it = families_.find(family->name());
  if (it == families_.end()) {
    MetricFamily* f = family.get();
    families_.emplace(f->name(), std::move(family));
    return f;
  }
  const MetricFamily& old = *it->second;
  if (old.type() != family->type() || old.label_names() != family->label_names() ||
      old.bounds() != family->bounds()) {
    return make_error(
        ErrorCode::kAlreadyExists,
        fmt::format("metric '{}' is already registered as a {} with labels [{}]{}", old.name(),
                    type_name(old.type()), fmt::join(old.label_names(), ","),
                    old.type() == MetricType::kHistogram ? " and other buckets" : ""));
  }
  return it->second.get();
}

Result<CounterFamily*> Registry::counter(std::string_view name, std::string_view help,
                                         std::vector<std::string> labels) {
  if (Status s = validate(MetricType::kCounter, name, labels, {}); !s) return s.error();
  return downcast<CounterFamily>(add(
      std::make_unique<CounterFamily>(std::string(name), std::string(help), std::move(labels))));
}

Result<GaugeFamily*> Registry::gauge(std::string_view name, std::string_view help,
                                     std::vector<std::string> labels) {
  if (Status s = validate(MetricType::kGauge, name, labels, {}); !s) return s.error();
  return downcast<GaugeFamily>(
      add(std::make_unique<GaugeFamily>(std::string(name), std::string(help), std::move(labels))));
}

Result<HistogramFamily*> Registry::histogram(std::string_view name, std::string_view help,
                                             std::vector<std::string> labels,
                                             std::vector<double> buckets) {
  // Accept an explicit trailing +Inf; it is implicit in the output anyway.
  if (!buckets.empty() && buckets.back() == INFINITY) buckets.pop_back();
  if (Status s = validate(MetricType::kHistogram, name, labels, buckets); !s) return s.error();
  return downcast<HistogramFamily>(add(std::make_unique<HistogramFamily>(
      std::string(name), std::string(help), std::move(labels), std::move(buckets))));
}

Result<CallbackGaugeFamily*> Registry::callback_gauge(std::string_view name, std::string_view help,
                                                      std::vector<std::string> labels) {
  if (Status s = validate(MetricType::kCallbackGauge, name, labels, {}); !s) return s.error();
  return downcast<CallbackGaugeFamily>(add(std::make_unique<CallbackGaugeFamily>(
      std::string(name), std::string(help), std::move(labels))));
}

std::string Registry::render() const {
  // Families are never removed, so the pointers outlive the lock; rendering outside it lets
  // callbacks register metrics without deadlocking.
  std::vector<const MetricFamily*> families;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, f] : families_)
      families.push_back(f.get());
  }
  std::string out;
  for (const MetricFamily* f : families)
    f->render(out);
  return out;
}

}  // namespace gf
