// The gateway's Prometheus metrics, with the children each request touches looked up once per
// (model, tenant) and (model, replica) and then kept: a request updates about ten series, and a
// label lookup builds label vectors and walks an ordered map under a lock.
#pragma once

#include <array>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/io/metrics.h"
#include "common/result.h"
#include "routing/outlier_detector.h"

namespace gf {

class GatewayMetrics {
 public:
  struct ForTenant {  // one (model, tenant)
    Gauge* in_flight = nullptr;
    Histogram* duration = nullptr;
    Histogram* ttft = nullptr;
    Histogram* queue_wait = nullptr;
    Counter* prompt_bytes = nullptr;
    Counter* prompt_tokens = nullptr;
    Counter* completion_tokens = nullptr;
    std::map<int, Counter*> by_status;  // filled as statuses are seen
  };
  struct ForReplica {                      // one (model, replica)
    std::array<Counter*, 6> by_outcome{};  // indexed by Outcome
    Histogram* duration = nullptr;
    Histogram* ttft = nullptr;
  };

  Status init();  // registers every family; call once
  Registry& registry() { return registry_; }

  ForTenant& tenant(const std::string& model, const std::string& tenant);
  Counter& requests(ForTenant& t, const std::string& model, const std::string& tenant, int status);
  // Requests refused before their model was known to exist count under model "", so that
  // made-up model names cannot grow /metrics.
  void refused(const std::string& tenant, int status);
  ForReplica& replica(const std::string& model, const std::string& replica);
  Counter& outcome(ForReplica& r, const std::string& model, const std::string& replica, Outcome o);
  // A replica gone for good takes its series with it, so churn does not grow /metrics.
  void forget_replica(const std::string& replica);

  CounterFamily* retries = nullptr;
  CounterFamily* watch_errors = nullptr;
  CallbackGaugeFamily* queue_length = nullptr;

 private:
  Registry registry_;
  CounterFamily* requests_ = nullptr;
  GaugeFamily* in_flight_ = nullptr;
  HistogramFamily* duration_ = nullptr;
  HistogramFamily* ttft_ = nullptr;
  HistogramFamily* replica_duration_ = nullptr;
  HistogramFamily* replica_ttft_ = nullptr;
  HistogramFamily* queue_wait_ = nullptr;
  CounterFamily* prompt_bytes_ = nullptr;
  CounterFamily* prompt_tokens_ = nullptr;
  CounterFamily* completion_tokens_ = nullptr;
  CounterFamily* replica_requests_ = nullptr;
  // Keyed by (model, tenant) and (model, replica). A lookup hashes and compares the two parts
  // where they lie: it builds no joined key string.
  struct LabelPair {
    std::string model;
    std::string name;
  };
  struct LabelPairView {
    LabelPairView(std::string_view m, std::string_view n) : model(m), name(n) {}
    // Implicit, so that stored keys hash and compare as views too.
    LabelPairView(const LabelPair& k) : model(k.model), name(k.name) {}  // NOLINT
    std::string_view model;
    std::string_view name;
  };
  struct LabelPairHash {
    using is_transparent = void;
    size_t operator()(LabelPairView k) const;
  };
  struct LabelPairEq {
    using is_transparent = void;
    bool operator()(LabelPairView a, LabelPairView b) const {
      return a.model == b.model && a.name == b.name;
    }
  };
  std::unordered_map<LabelPair, ForTenant, LabelPairHash, LabelPairEq> tenants_;
  std::unordered_map<LabelPair, ForReplica, LabelPairHash, LabelPairEq> replicas_;
};

}  // namespace gf
