#include "gateway/gateway_metrics.h"

#include <vector>

namespace gf {

namespace {

template <class T>
Status take(Result<T*> r, T*& into) {
  if (!r) return r.error();
  into = *r;
  return {};
}

}  // namespace

Status GatewayMetrics::init() {
  const std::vector<double> lat = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  Registry& r = registry_;
  for (Status s : {
           take(r.counter("gpufleet_gateway_requests_total",
                          "Requests by model, tenant and the HTTP status the client saw",
                          {"model", "tenant", "status"}),
                requests_),
           take(
               r.gauge("gpufleet_gateway_in_flight", "Requests being proxied", {"model", "tenant"}),
               in_flight_),
           take(r.histogram("gpufleet_gateway_request_duration_seconds",
                            "Whole request time through the gateway, queue wait included",
                            {"model", "tenant"}, lat),
                duration_),
           take(r.histogram("gpufleet_gateway_ttft_seconds",
                            "Time to the first streamed byte through the gateway, queue wait "
                            "included",
                            {"model", "tenant"}, lat),
                ttft_),
           take(r.histogram("gpufleet_gateway_replica_duration_seconds",
                            "Time one replica took to answer one attempt, by replica",
                            {"model", "replica"}, lat),
                replica_duration_),
           take(r.histogram("gpufleet_gateway_replica_ttft_seconds",
                            "Time from sending a streamed request to a replica to its first byte",
                            {"model", "replica"}, lat),
                replica_ttft_),
           take(r.histogram("gpufleet_gateway_queue_wait_seconds",
                            "Time requests waited for capacity", {"model", "tenant"}, lat),
                queue_wait_),
           take(r.counter("gpufleet_gateway_prompt_bytes_total",
                          "Prompt bytes received, by model and tenant", {"model", "tenant"}),
                prompt_bytes_),
           take(r.counter("gpufleet_gateway_prompt_tokens_total",
                          "Prompt tokens of answered requests: the replica's usage when it "
                          "reports one, else prompt bytes / 4 rounded up",
                          {"model", "tenant"}),
                prompt_tokens_),
           take(r.counter("gpufleet_gateway_completion_tokens_total",
                          "Generated tokens passed to clients: the replica's usage when it "
                          "reports one, else streamed chunks that carried text",
                          {"model", "tenant"}),
                completion_tokens_),
           take(r.counter("gpufleet_gateway_replica_requests_total",
                          "Requests sent to each replica, by outcome",
                          {"model", "replica", "outcome"}),
                replica_requests_),
           take(r.counter("gpufleet_gateway_retries_total", "Requests retried on another replica",
                          {"model"}),
                retries),
           take(r.counter("gpufleet_gateway_routing_watch_errors_total",
                          "Failed routing-table fetches and traffic reports (the last table "
                          "stays in use)"),
                watch_errors),
           take(r.callback_gauge("gpufleet_gateway_queue_length",
                                 "Requests waiting for capacity, by model", {"model"}),
                queue_length),
       }) {
    if (!s) return s;
  }
  return {};
}

size_t GatewayMetrics::LabelPairHash::operator()(LabelPairView k) const {
  const size_t a = std::hash<std::string_view>{}(k.model);
  const size_t b = std::hash<std::string_view>{}(k.name);
  return a ^ (b + 0x9e3779b97f4a7c15 + (a << 6) + (a >> 2));  // boost::hash_combine
}

GatewayMetrics::ForTenant& GatewayMetrics::tenant(const std::string& model,
                                                  const std::string& tenant) {
  if (auto it = tenants_.find(LabelPairView(model, tenant)); it != tenants_.end())
    return it->second;
  ForTenant& t = tenants_.try_emplace(LabelPair{model, tenant}).first->second;
  const LabelValues l = {model, tenant};
  t.in_flight = &in_flight_->with(l);
  t.duration = &duration_->with(l);
  t.ttft = &ttft_->with(l);
  t.queue_wait = &queue_wait_->with(l);
  t.prompt_bytes = &prompt_bytes_->with(l);
  t.prompt_tokens = &prompt_tokens_->with(l);
  t.completion_tokens = &completion_tokens_->with(l);
  return t;
}

Counter& GatewayMetrics::requests(ForTenant& t, const std::string& model, const std::string& tenant,
                                  int status) {
  auto [it, fresh] = t.by_status.try_emplace(status, nullptr);
  if (fresh) it->second = &requests_->with({model, tenant, std::to_string(status)});
  return *it->second;
}

void GatewayMetrics::refused(const std::string& tenant, int status) {
  static const std::string kNoModel;
  requests(this->tenant(kNoModel, tenant), kNoModel, tenant, status).inc();
}

GatewayMetrics::ForReplica& GatewayMetrics::replica(const std::string& model,
                                                    const std::string& replica) {
  if (auto it = replicas_.find(LabelPairView(model, replica)); it != replicas_.end())
    return it->second;
  ForReplica& r = replicas_.try_emplace(LabelPair{model, replica}).first->second;
  const LabelValues l = {model, replica};
  r.duration = &replica_duration_->with(l);
  r.ttft = &replica_ttft_->with(l);
  return r;
}

Counter& GatewayMetrics::outcome(ForReplica& r, const std::string& model,
                                 const std::string& replica, Outcome o) {
  Counter*& c = r.by_outcome.at(static_cast<size_t>(o));
  if (c == nullptr) c = &replica_requests_->with({model, replica, to_string(o)});
  return *c;
}

void GatewayMetrics::forget_replica(const std::string& replica) {
  // The cached pointers go first: erase_label frees the children they point to.
  std::erase_if(replicas_, [&](const auto& e) { return e.first.name == replica; });
  replica_requests_->erase_label("replica", replica);
  replica_duration_->erase_label("replica", replica);
  replica_ttft_->erase_label("replica", replica);
}

}  // namespace gf
