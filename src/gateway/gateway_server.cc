#include "gateway/gateway_server.h"

#include "net/bearer_token.h"

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <unordered_map>

#include "admission/tenant_directory.h"
#include "common/io/log.h"
#include "common/io/metrics.h"
#include "gateway/gateway_metrics.h"
#include "gateway/request_id.h"
#include "gateway/request_info.h"
#include "gateway/token_usage.h"
#include "net/http_server.h"
#include "net/openai_error.h"
#include "net/tagged_writer.h"
#include "serving/serving.h"
#include "wire/routing_table_json.h"
#include "wire/traffic_report_json.h"

namespace gf {

namespace asio = boost::asio;

namespace {

std::string seconds_header(Duration d) {
  double s = std::chrono::duration<double>(d).count();
  return std::to_string(std::max<int64_t>(1, static_cast<int64_t>(std::ceil(s))));
}

std::string content_type_or(const net::Headers& h, const char* fallback) {
  auto it = h.find("content-type");
  return it == h.end() ? std::string(fallback) : it->second;
}

std::string mid_stream_error(const std::string& why) {
  return net::openai_error(502, "the replica failed mid-stream: " + why, "upstream_error");
}

double secs(Duration d) {
  return std::chrono::duration<double>(d).count();
}

// What one request is waiting for while it sits in the admission queue.
struct Waiter {
  explicit Waiter(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  bool dispatched = false;
  std::optional<Refusal> rejected;
};

// The one place a transport error's text is read: the client reports timeouts only in words, and
// the serving core decides from the type.
Failure upstream_failure(const Error& e) {
  if (e.message.find("timed out") != std::string::npos) return Failure::kTimeout;
  // ECONNREFUSED's text (strerror): the engine is not listening, nothing was sent.
  if (e.message.find("Connection refused") != std::string::npos) return Failure::kRefused;
  return Failure::kConnect;
}

net::Headers retry_after_header(const std::optional<Duration>& retry_after) {
  net::Headers h;
  if (retry_after) h["Retry-After"] = seconds_header(*retry_after);
  return h;
}

}  // namespace

struct GatewayServer::Impl {
  Impl(asio::io_context& io, GatewayOptions o, const Clock& c, TenantDirectory t, Serving s)
      : io(io),
        opts(std::move(o)),
        clock(c),
        tenants(std::move(t)),
        core(std::move(s)),
        client(io, 256),
        request_ids(std::random_device{}()),
        expiry_timer(io) {}

  asio::io_context& io;
  GatewayOptions opts;
  const Clock& clock;
  TenantDirectory tenants;
  // Every decision about a request (rights, admission, replica, retries, release, traffic); this
  // shell keeps the bytes, sockets, timers and metrics.
  Serving core;
  net::HttpClient client;
  RequestIds request_ids;
  std::unique_ptr<net::HttpServer> server;
  // What one routing table says of each replica, by id. Its metrics are looked up on its first
  // attempt and kept here for the next ones: a replica's metrics are forgotten only once it has
  // left the table (this entry is gone) and its last attempt has ended.
  struct Upstream {
    net::HostPort address;                          // port 0: the table's address was bad
    std::string api_key;                            // presented to the engine; empty: none
    std::string model;                              // whose entry lists it
    GatewayMetrics::ForReplica* metrics = nullptr;  // for `model`
  };
  std::unordered_map<std::string, Upstream> addresses;
  // One routing table's models, by the core's model index. A model's per-tenant metrics are
  // looked up on each tenant's first request and kept here (a tenant's metrics are never
  // forgotten).
  struct ServedModel {
    // By tenant: the directory's entries are fixed for the gateway's life.
    std::unordered_map<const TenantSpec*, GatewayMetrics::ForTenant*> tenant_metrics;
  };
  std::vector<ServedModel> models;
  std::unordered_map<uint64_t, std::shared_ptr<Waiter>> waiting;
  // Wakes expire_loop at the core's next deadline; re-armed when a request queues earlier.
  asio::steady_timer expiry_timer;
  std::optional<TimePoint> expiry_armed;
  bool stopped = false;
  std::string gateway_id;

  asio::awaitable<void> report_loop() {
    asio::steady_timer timer(io);
    while (!stopped) {
      // Once a second: the autoscaler's control period, so a step in load is seen within one.
      timer.expires_after(std::chrono::seconds(1));
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (stopped) co_return;
      TrafficReport report = core.take_report(clock.now());
      report.gateway = gateway_id;
      net::ClientRequest req;
      req.method = "POST";
      req.target = "/api/v1/gateways/report";
      req.body = wire::to_json(report);
      req.headers["content-type"] = "application/json";
      if (!opts.controller_token.empty())
        req.headers["authorization"] = "Bearer " + opts.controller_token;
      net::CallOptions o;
      o.timeout = std::chrono::seconds(2);
      auto res = co_await client.call(opts.controller->host, opts.controller->port, req, o);
      if (!res || res->status != 200) {
        // Lost with the controller down: canary analysis waits for fresh numbers.
        metrics.watch_errors->with({}).inc();
      }
    }
  }

  GatewayMetrics metrics;

  // Every attempt ends here once the core has judged it: the per-replica metrics record it.
  void record(Outcome outcome, GatewayMetrics::ForReplica& r, const std::string& model,
              const std::string& replica, std::chrono::steady_clock::time_point sent) {
    metrics.outcome(r, model, replica, outcome).inc();
    r.duration->observe(secs(std::chrono::steady_clock::now() - sent));
  }

  GatewayMetrics::ForTenant& tenant_metrics(ServedModel& m, const std::string& model,
                                            const TenantSpec& tenant) {
    auto [it, fresh] = m.tenant_metrics.try_emplace(&tenant, nullptr);
    if (fresh) it->second = &metrics.tenant(model, tenant.name);
    return *it->second;
  }

  // `u`: the replica's entry in `addresses`, if it has one.
  GatewayMetrics::ForReplica& replica_metrics(Upstream* u, const std::string& model,
                                              const std::string& replica) {
    if (u == nullptr || u->model != model) return metrics.replica(model, replica);
    if (u->metrics == nullptr) u->metrics = &metrics.replica(model, replica);
    return *u->metrics;
  }

  // Tokens in and out of one answered request: the replica's usage when it reported one, else
  // the prompt estimate (bytes / 4 rounded up) and the streamed chunks that carried text.
  // Their sum is what the tenant is charged.
  static UsedTokens count_tokens(const RequestInfo& info, GatewayMetrics::ForTenant& tm,
                                 const std::optional<TokenUsage>& usage) {
    int64_t in = info.estimated_prompt_tokens();
    if (usage && usage->prompt_tokens) in = *usage->prompt_tokens;
    tm.prompt_tokens->inc(static_cast<double>(in));
    const int64_t out = usage ? usage->completion_tokens : 0;
    if (usage) tm.completion_tokens->inc(static_cast<double>(out));
    return UsedTokens{Tokens{in}, Tokens{out}};
  }

  // ---- drain: requests in flight to each replica, so that one leaving the routing table gets no
  // new requests (the router no longer has it) and those still running after the drain timeout
  // are cut (a stream ends with an error event; a request with nothing sent yet is retried).

  struct Attempt {
    std::shared_ptr<net::CallCanceller> canceller;
    bool drained = false;
  };
  // By replica id. An entry stays while its replica is in the table, so that the steady state
  // allocates nothing here.
  std::unordered_map<std::string, std::vector<Attempt*>> attempts;
  // Each departure of a replica from the table, numbered: a drain timer acts only for the latest
  // one. A replica that leaves, comes back and leaves again within one drain timeout must get a
  // whole drain timeout from its last departure, not be cut by the first one's timer.
  std::unordered_map<std::string, uint64_t> departures;
  uint64_t last_departure = 0;

  struct Tracked {  // one attempt's registration, for its lifetime in forward()
    // `id` outlives this: the serving core keeps it in the request's list of tried replicas.
    Tracked(Impl& gw, const std::string& id, std::shared_ptr<net::CallCanceller> c)
        : g(gw), replica(id), list(gw.attempts[id]) {
      attempt.canceller = std::move(c);
      list.push_back(&attempt);
    }
    ~Tracked() {
      list.erase(std::find(list.begin(), list.end(), &attempt));
      if (!list.empty() || g.addresses.count(replica)) return;
      g.attempts.erase(replica);
      g.metrics.forget_replica(replica);
    }
    Tracked(const Tracked&) = delete;
    Tracked& operator=(const Tracked&) = delete;
    Impl& g;
    const std::string& replica;
    // Held rather than looked up again: an entry is erased only once its list is empty, and this
    // attempt is on it until here (map rehashes keep elements in place).
    std::vector<Attempt*>& list;
    Attempt attempt;
  };

  std::string drain_message(const std::string& replica) const {
    return fmt::format(
        "replica {} left the routing table and did not finish within the {} s "
        "drain timeout",
        replica, secs(opts.drain_timeout));
  }

  asio::awaitable<void> drain(std::string replica, uint64_t departure) {
    asio::steady_timer timer(io);
    timer.expires_after(opts.drain_timeout);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    auto d = departures.find(replica);
    if (d == departures.end() || d->second != departure) co_return;  // it left again since
    departures.erase(d);
    if (addresses.count(replica)) co_return;  // it came back
    auto it = attempts.find(replica);
    if (it == attempts.end()) co_return;  // all finished in time
    log::warn("cutting requests to a replica that left the routing table",
              {{"replica", replica}, {"requests", std::to_string(it->second.size())}});
    std::vector<Attempt*> cut(it->second.begin(), it->second.end());
    for (Attempt* a : cut) {
      a->drained = true;
      a->canceller->cancel();
    }
  }

  // ---- routing table

  static net::HostPort address_of(const RouteReplica& r) {
    auto hp = net::parse_host_port(r.address);
    if (hp) return *hp;
    log::warn("routing table names a replica address that is not host:port; it gets no requests",
              {{"replica", r.id}, {"error", hp.error().message}});
    return net::HostPort{};
  }

  Status apply_table(const RoutingTable& keyed) {
    // The replicas' keys stay here, with their addresses: the core (and so this gateway's own
    // /v1/routing) never holds them.
    RoutingTable t = keyed;
    for (auto& m : t.models)
      for (auto& rev : m.revisions)
        for (auto& x : rev.replicas)
          x.api_key.clear();
    if (Status s = core.apply_table(t, clock.now()); !s) return s;
    // A model the table says cannot serve hands its waiting requests back now.
    if (auto d = core.next_deadline()) expire_by(*d);
    std::unordered_map<std::string, Upstream> before = std::move(addresses);
    addresses.clear();
    models.assign(core.table().models.size(), ServedModel{});
    for (const auto& m : keyed.models) {
      for (const auto& rev : m.revisions)
        for (const auto& x : rev.replicas)
          addresses[x.id] = Upstream{address_of(x), x.api_key, m.model};
      std::string name = m.model;
      metrics.queue_length->set({name}, [this, name] {
        return static_cast<double>(core.demand(name, clock.now()).queued.length);
      });
    }
    for (const auto& [id, upstream] : before) {
      if (addresses.count(id)) continue;
      auto a = attempts.find(id);
      if (a != attempts.end() && !a->second.empty()) {
        const uint64_t departure = ++last_departure;
        departures[id] = departure;
        asio::co_spawn(io, drain(id, departure), asio::detached);
      } else {
        if (a != attempts.end()) attempts.erase(a);
        metrics.forget_replica(id);
      }
    }
    pump();
    return {};
  }

  asio::awaitable<void> follow_controller() {
    asio::steady_timer backoff(io);
    bool warned = false;
    while (!stopped) {
      net::ClientRequest req;
      const uint64_t version = core.table().version;
      req.target = fmt::format("/api/v1/routing?after={}", version);
      if (version == 0) req.target = "/api/v1/routing";
      if (!opts.controller_token.empty())
        req.headers["authorization"] = "Bearer " + opts.controller_token;
      net::CallOptions o;
      o.timeout = std::chrono::seconds(40);  // the controller holds a watch up to 30 s
      auto res = co_await client.call(opts.controller->host, opts.controller->port, req, o);
      std::string problem;
      if (!res) {
        problem = res.error().message;
      } else if (res->status != 200) {
        problem = fmt::format("controller answered {}", res->status);
      } else if (auto t = wire::parse_routing_table(res->body); !t) {
        problem = t.error().message;
      } else if (t->version != version) {
        if (Status s = apply_table(*t); !s) problem = s.error().message;
      }
      if (problem.empty()) {
        if (warned) log::info("routing table watch restored", {});
        warned = false;
        continue;
      }
      metrics.watch_errors->with({}).inc();
      if (!warned) {
        log::warn("routing table watch failed; serving with the last table",
                  {{"error", problem}, {"version", std::to_string(version)}});
      }
      warned = true;
      backoff.expires_after(std::chrono::seconds(1));
      boost::system::error_code ec;
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  // ---- admission queue

  // Wakes queued requests that now hold a slot.
  void pump() {
    while (auto id = core.dispatch()) {
      auto it = waiting.find(*id);
      if (it == waiting.end()) continue;
      it->second->dispatched = true;
      it->second->timer.cancel();
    }
  }

  // Sleeps until the core's next deadline (a queued request's), never polls.
  asio::awaitable<void> expire_loop() {
    while (!stopped) {
      for (auto& e : core.expire(clock.now())) {
        auto it = waiting.find(e.id);
        if (it == waiting.end()) continue;
        it->second->rejected = std::move(e.refusal);
        it->second->timer.cancel();
      }
      expiry_armed = core.next_deadline();
      if (expiry_armed) {
        expiry_timer.expires_after(*expiry_armed - clock.now());
      } else {
        expiry_timer.expires_after(std::chrono::hours(1));
      }
      boost::system::error_code ec;
      co_await expiry_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  // A request queued with `deadline`: wake expire_loop if it sleeps past it.
  void expire_by(TimePoint deadline) {
    if (!expiry_armed || deadline < *expiry_armed) {
      expiry_armed = deadline;
      expiry_timer.cancel();
    }
  }

  // ---- the front

  // Not a coroutine: it hands back the send itself (a frame fewer).
  static asio::awaitable<void> send_error(net::ResponseWriter& w, int status,
                                          const std::string& message, const std::string& code,
                                          net::Headers extra = {}) {
    return w.send(status, "application/json", net::openai_error(status, message, code),
                  std::move(extra));
  }

  // (Built outside a coroutine: GCC 12 rejects braced JSON initializers in coroutine frames.)
  std::string models_json(const TenantSpec& tenant) const {
    nlohmann::json data = nlohmann::json::array();
    for (const auto& [name, index] : core.models_by_name()) {
      if (!core.allows(tenant, index)) continue;
      data.push_back({{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", "gpufleet"}});
    }
    return nlohmann::json{{"object", "list"}, {"data", data}}.dump();
  }

  // Not a coroutine: each branch hands back the one operation it ends with, so a proxied request
  // costs no frame and no resume here. What those operations are given is passed by value or
  // outlives them (the request, the writer and the tenant belong to the session and directory).
  asio::awaitable<void> handle(net::HttpRequest& req, net::ResponseWriter& w) {
    // Views: against a literal, a view compares the length and then the bytes; std::string's
    // operator== would run strlen and compare() for each literal.
    const std::string_view path = req.path;
    const std::string_view method = req.method;
    if (path == "/healthz") {
      return w.send(200, "application/json", R"({"status":"ok"})");
    }
    if ((path == "/metrics" || path == "/v1/routing") && opts.auth_reads &&
        !net::has_bearer_secret(req.headers, opts.controller_token)) {
      return send_error(w, 401,
                        "this call needs \"Authorization: Bearer <token>\" (the gateway's "
                        "controller token: --token or $GPUFLEET_TOKEN)",
                        "invalid_api_key");
    }
    if (path == "/metrics" && method == "GET") {
      return w.send(200, "text/plain; version=0.0.4; charset=utf-8", metrics.registry().render());
    }
    if (path == "/v1/routing" && method == "GET") {
      return w.send(200, "application/json", wire::to_json(core.table()));
    }
    std::string_view endpoint;
    if (path == "/v1/chat/completions") {
      endpoint = "chat";
    } else if (path == "/v1/completions") {
      endpoint = "completions";
    } else if (path == "/v1/embeddings") {
      endpoint = "embeddings";
    } else if (path != "/v1/models") {
      return send_error(w, 404, "no such endpoint: " + req.method + " " + req.path, "not_found");
    }
    auto key = net::bearer_token(req.headers);
    if (!key.ok()) return send_error(w, 400, key.error().message, "invalid_request_error");
    auto tenant = tenants.authenticate(*key);
    if (!tenant) {
      return send_error(w, 401, tenant.error().message, "invalid_api_key");
    }
    if (endpoint.empty()) {
      if (method != "GET") return send_error(w, 405, "use GET /v1/models", "method_not_allowed");
      return w.send(200, "application/json", models_json(**tenant));
    }
    if (method != "POST") return send_error(w, 405, "use POST " + req.path, "method_not_allowed");
    auto request_id = request_ids.for_request(req.headers);
    if (!request_id) {
      return send_error(w, 400, request_id.error().message, "invalid_request_error");
    }
    return proxy(req, w, **tenant, endpoint, std::move(*request_id));
  }

  // Every answer from here on carries the request's id, and so does every attempt.
  asio::awaitable<void> proxy(net::HttpRequest& req, net::ResponseWriter& client_writer,
                              const TenantSpec& tenant, std::string_view endpoint,
                              std::string request_id) {
    const auto started = std::chrono::steady_clock::now();
    net::TaggedWriter w(client_writer, "x-request-id", request_id);
    auto info = parse_request_info(req.body, endpoint,
                                   static_cast<size_t>(opts.prefix.block_size.value) *
                                       static_cast<size_t>(opts.prefix.max_blocks),
                                   req.body.capacity() - req.body.size());
    if (!info) {
      metrics.refused(tenant.name, 400);
      co_await send_error(w, 400, info.error().message, "invalid_request_error");
      co_return;
    }
    const std::string& model = info->model;
    AdmitResult admitted = core.admit(
        Arrival{&tenant, model, Tokens{info->estimated_prompt_tokens()}, info->max_tokens},
        clock.now());
    if (auto* r = std::get_if<Refusal>(&admitted)) {
      co_await refuse(w, *r, tenant, model, *info);
      co_return;
    }
    const Entered entered = std::get<Entered>(admitted);
    auto& tm = tenant_metrics(models[entered.model], model, tenant);
    tm.prompt_bytes->inc(static_cast<double>(info->prompt_bytes));
    if (entered.queued) {
      std::optional<int> answered = co_await wait_in_queue(w, entered, tm, started);
      if (answered) {
        metrics.requests(tm, model, tenant.name, *answered).inc();
        co_return;
      }
    }
    tm.in_flight->inc();
    UsedTokens used;
    int status = co_await forward(entered.id, req, w, *info, started, tm, used, request_id);
    tm.in_flight->dec();
    core.finish(entered.id, used, clock.now());
    pump();
    metrics.requests(tm, model, tenant.name, status).inc();
    tm.duration->observe(secs(std::chrono::steady_clock::now() - started));
  }

  // Answers a request the core refused before it held anything.
  asio::awaitable<void> refuse(net::ResponseWriter& w, const Refusal& r, const TenantSpec& tenant,
                               const std::string& model, const RequestInfo& info) {
    switch (r.kind) {
      case RefusalKind::kUnknownModel:
        metrics.refused(tenant.name, 404);
        break;
      case RefusalKind::kNotAllowed:
        metrics.requests(metrics.tenant(model, tenant.name), model, tenant.name, 403).inc();
        break;
      case RefusalKind::kAdmission: {
        auto& tm = tenant_metrics(models[r.model], model, tenant);
        tm.prompt_bytes->inc(static_cast<double>(info.prompt_bytes));
        metrics.requests(tm, model, tenant.name, r.http_status).inc();
        break;
      }
    }
    co_await send_error(w, r.http_status, r.reason, std::string(r.code),
                        retry_after_header(r.retry_after));
  }

  // Waits for the core to dispatch a queued request. Returns the status already answered when
  // it will not be sent (499: the client left; a refusal when it expired), nullopt once it holds
  // a slot.
  asio::awaitable<std::optional<int>> wait_in_queue(net::ResponseWriter& w, const Entered& entered,
                                                    GatewayMetrics::ForTenant& tm,
                                                    std::chrono::steady_clock::time_point started) {
    const RequestId id = entered.id;
    auto waiter = std::make_shared<Waiter>(io);
    waiting[id] = waiter;
    expire_by(entered.deadline);
    pump();  // it may have a slot already
    bool client_gone = false;
    w.watch_disconnect([waiter, &client_gone] {
      client_gone = true;
      waiter->timer.cancel();
    });
    while (!waiter->dispatched && !waiter->rejected && !client_gone && !stopped) {
      waiter->timer.expires_after(std::chrono::seconds(3600));
      boost::system::error_code ec;
      co_await waiter->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    w.watch_disconnect(nullptr);
    waiting.erase(id);
    tm.queue_wait->observe(secs(std::chrono::steady_clock::now() - started));
    if (client_gone || (stopped && !waiter->dispatched)) {
      core.cancel(id, clock.now());
      pump();
      co_return 499;
    }
    if (waiter->rejected) {
      const Refusal& r = *waiter->rejected;
      co_await send_error(w, r.http_status, r.reason, std::string(r.code),
                          retry_after_header(r.retry_after));
      co_return r.http_status;
    }
    co_return std::nullopt;
  }

  // Sends the request to replicas the core picks, retrying while it says so and nothing reached
  // the client. Returns the status the client saw (499 when it went away); `used`: the tokens
  // the request used, what its tenant is charged.
  asio::awaitable<int> forward(RequestId id, net::HttpRequest& req, net::ResponseWriter& w,
                               const RequestInfo& info,
                               std::chrono::steady_clock::time_point started,
                               GatewayMetrics::ForTenant& tm, UsedTokens& used,
                               const std::string& request_id) {
    std::vector<uint64_t> blocks = prefix_block_hashes(info.prompt_prefix, opts.prefix);
    const RouteHints hints{info.user, blocks};
    std::string last_error;  // empty until an attempt fails: most requests need none
    net::ClientRequest up = upstream_request(req, request_id);
    auto elapsed = [&] { return std::chrono::steady_clock::now() - started; };
    for (;;) {
      PickResult picked = core.pick(id, hints, clock.now());
      if (auto* g = std::get_if<GiveUp>(&picked)) {
        if (g->retry) metrics.retries->with({info.model}).inc();
        if (!g->reason.empty()) last_error = std::move(g->reason);
        break;
      }
      const gf::Attempt& a = std::get<gf::Attempt>(picked);
      if (a.retry) metrics.retries->with({info.model}).inc();
      // Stays in place while this attempt runs (the core keeps it for the retries to avoid).
      const std::string& replica = *a.replica;
      const auto sent = std::chrono::steady_clock::now();
      const Target target = target_of(replica, info.model);
      const net::HostPort& addr = target.address;
      // Each replica has its own key; a retry on another replica presents that one's.
      if (target.api_key.empty()) {
        up.headers.erase("authorization");
      } else {
        up.headers.insert_or_assign("authorization", "Bearer " + target.api_key);
      }
      GatewayMetrics::ForReplica& rm = *target.metrics;
      // The core judges the failure (what the router learns, whether to retry); the metrics
      // record its verdict.
      auto failed = [&](Failure f, AttemptPhase phase) {
        const AttemptEnd end = core.fail(id, f, phase, elapsed(), clock.now());
        record(end.outcome, rm, info.model, replica, sent);
        return end.retry;
      };
      if (addr.port == 0) {
        failed(Failure::kNoAddress, AttemptPhase::kBeforeHead);
        continue;
      }
      net::CallOptions o;
      o.timeout = opts.upstream_timeout;
      o.connect_timeout = opts.connect_timeout;
      o.canceller = std::make_shared<net::CallCanceller>();
      auto canceller = o.canceller;
      // Registered for the drain of a replica that leaves the routing table.
      Tracked tracked(*this, replica, canceller);
      const bool& drained = tracked.attempt.drained;
      // Armed until the response is complete, streams included: a client that leaves cancels the
      // upstream request (within the server's half-second watch), even while the replica sends
      // nothing (queued in the engine).
      w.watch_disconnect([canceller] { canceller->cancel(); });
      auto opened = co_await client.open(addr.host, addr.port, up, o);
      if (canceller->cancelled() && !drained) {
        w.watch_disconnect(nullptr);
        failed(Failure::kClientGone, AttemptPhase::kBeforeHead);
        co_return 499;
      }
      if (!opened) {
        w.watch_disconnect(nullptr);
        const Failure f = drained ? Failure::kDrained : upstream_failure(opened.error());
        last_error = drained ? drain_message(replica) : opened.error().message;
        if (failed(f, AttemptPhase::kBeforeHead)) continue;  // nothing reached the client
        // Not retried before a head: a timeout (the replica may still be working on it).
        co_await send_error(w, 504, "the replica did not answer in time", "upstream_timeout");
        co_return 504;
      }
      auto& upstream = **opened;
      const int status = upstream.status();
      if (core.retry_head(id, status)) {
        w.watch_disconnect(nullptr);
        failed(Failure::kUpstream5xx, AttemptPhase::kBeforeHead);
        last_error = fmt::format("replica {} answered {}", replica, status);
        continue;
      }
      if (!(info.stream && status == 200)) {
        // Whole responses pass through unchanged, with their length.
        // Most bodies arrived with the head: taken as they are, copied nothing, awaited nothing.
        std::string body = upstream.take_ready();
        Status broken;
        while (!upstream.complete()) {
          auto piece = co_await upstream.next();
          if (!piece) {
            broken = piece.error();
            break;
          }
          body += *piece;
        }
        w.watch_disconnect(nullptr);
        if (canceller->cancelled() && !drained) {
          failed(Failure::kClientGone, AttemptPhase::kBody);
          co_return 499;
        }
        if (!broken) {
          const Failure f = drained ? Failure::kDrained : Failure::kReset;
          last_error = drained ? drain_message(replica) : broken.error().message;
          failed(f, AttemptPhase::kBody);
          continue;  // still nothing sent: the core's next pick says whether to retry
        }
        record(core.succeed(id, status, elapsed(), clock.now()), rm, info.model, replica, sent);
        if (status == 200) used = count_tokens(info, tm, parse_usage(body));
        co_await w.send(status, content_type_or(upstream.headers(), "application/json"),
                        std::move(body));
        co_return status;
      }
      co_return co_await pass_stream(id, upstream, w, info, started, tm, used, replica, rm, sent,
                                     drained, *canceller);
    }
    co_await no_replica(w, info.model, last_error);
    co_return 503;
  }

  // One upstream request for every attempt, each with the same id: a replica that sees an id
  // twice was sent the request twice. The client's body is not read again (the request info has
  // what it needs), so it moves in rather than being copied.
  static net::ClientRequest upstream_request(net::HttpRequest& req, const std::string& request_id) {
    net::ClientRequest up;
    up.method = "POST";
    up.target = req.target;
    up.body = std::move(req.body);
    up.headers.append("content-type", "application/json");
    if (auto a = req.headers.get("accept"); !a.empty()) up.headers.append("accept", a);
    up.headers.append("x-request-id", request_id);
    return up;
  }

  // Where an attempt goes and what records it.
  struct Target {
    net::HostPort address;  // a copy: the table may change while the attempt runs
    std::string api_key;    // the engine's key, a copy for the same reason
    // Stays valid while the attempt runs, even if the replica leaves the table (see Upstream).
    GatewayMetrics::ForReplica* metrics = nullptr;
  };
  Target target_of(const std::string& replica, const std::string& model) {
    auto known = addresses.find(replica);
    if (known == addresses.end()) return Target{{}, {}, &replica_metrics(nullptr, model, replica)};
    return Target{known->second.address, known->second.api_key,
                  &replica_metrics(&known->second, model, replica)};
  }

  // The 503 when no replica took the request (not a coroutine: it hands back the send).
  static asio::awaitable<void> no_replica(net::ResponseWriter& w, const std::string& model,
                                          std::string last_error) {
    if (last_error.empty()) last_error = "no replica answered";
    net::Headers retry_after;
    retry_after.emplace("Retry-After", std::string(1, '1'));
    std::string message = "no replica of `" + model + "` could take the request: " + last_error;
    return send_error(w, 503, message, std::string("no_capacity"), std::move(retry_after));
  }

  // A stream: every piece goes out as it arrives. Nothing is retried once the head went out.
  asio::awaitable<int> pass_stream(RequestId id, net::ResponseStream& upstream,
                                   net::ResponseWriter& w, const RequestInfo& info,
                                   std::chrono::steady_clock::time_point started,
                                   GatewayMetrics::ForTenant& tm, UsedTokens& used,
                                   const std::string& replica, GatewayMetrics::ForReplica& rm,
                                   std::chrono::steady_clock::time_point sent, const bool& drained,
                                   const net::CallCanceller& canceller) {
    auto elapsed = [&] { return std::chrono::steady_clock::now() - started; };
    auto failed = [&](Failure f) {
      const AttemptEnd end = core.fail(id, f, AttemptPhase::kStreaming, elapsed(), clock.now());
      record(end.outcome, rm, info.model, replica, sent);
    };
    const int status = upstream.status();
    if (!co_await w.begin_stream(status,
                                 content_type_or(upstream.headers(), "text/event-stream"))) {
      failed(Failure::kClientGone);
      co_return 499;
    }
    bool first = true;
    Duration first_byte{0};
    StreamTokenCounter tokens;
    while (!upstream.complete()) {
      auto piece = co_await upstream.next();
      if (!piece) {
        if (canceller.cancelled() && !drained) {
          failed(Failure::kClientGone);  // the client left
          co_return 499;
        }
        // Bytes already went out: end the stream with an error event, never hang the client.
        failed(drained ? Failure::kDrained : Failure::kReset);
        std::string why = drained ? drain_message(replica) : piece.error().message;
        std::string ev = "data: " + mid_stream_error(why) + "\n\n";
        co_await w.write_chunk(ev);
        co_await w.end_stream();
        used = count_tokens(info, tm, tokens.usage());
        co_return 502;
      }
      if (piece->empty()) continue;
      if (first) {
        first_byte = elapsed();
        tm.ttft->observe(secs(first_byte));
        rm.ttft->observe(secs(std::chrono::steady_clock::now() - sent));
        first = false;
      }
      tokens.feed(*piece);
      if (!co_await w.write_chunk(*piece)) {
        failed(Failure::kClientGone);  // the client left (or stopped reading): drop upstream
        co_return 499;
      }
    }
    record(core.succeed(id, status, first_byte, clock.now()), rm, info.model, replica, sent);
    used = count_tokens(info, tm, tokens.usage());
    co_await w.end_stream();
    co_return status;
  }
};

Result<std::unique_ptr<GatewayServer>> GatewayServer::create(asio::io_context& io,
                                                             GatewayOptions options,
                                                             const Clock& clock) {
  auto tenants = TenantDirectory::create(options.tenants);
  if (!tenants) return tenants.error();
  ServingConfig sc;
  sc.admission = options.admission;
  sc.router = options.router;
  sc.retry_budget.ratio = options.retry_budget_ratio;
  sc.max_retries = options.max_retries;
  sc.default_max_tokens = options.default_max_tokens;
  sc.replica_concurrency = options.replica_concurrency;
  auto core = Serving::create(*tenants, std::move(sc), clock.now());
  if (!core) return core.error();
  if (Status s = validate(options.prefix); !s) return s.error();
  auto impl =
      std::make_unique<Impl>(io, std::move(options), clock, std::move(*tenants), std::move(*core));
  if (Status s = impl->metrics.init(); !s) return s.error();
  std::random_device rd;
  impl->gateway_id = fmt::format("gw-{:08x}", rd());
  if (!impl->opts.static_routes.models.empty()) {
    RoutingTable t = impl->opts.static_routes;
    if (t.version == 0) t.version = 1;
    if (Status s = impl->apply_table(t); !s) return s.error();
  }
  net::ServerOptions so;
  so.max_body_bytes = impl->opts.max_body_bytes;
  so.max_header_bytes = impl->opts.max_header_bytes;
  so.max_connections = impl->opts.max_connections;
  so.max_connections_per_client = impl->opts.max_connections_per_client;
  so.idle_timeout = std::chrono::duration_cast<std::chrono::seconds>(impl->opts.idle_timeout);
  so.body_timeout = std::chrono::duration_cast<std::chrono::seconds>(impl->opts.body_timeout);
  so.write_timeout = std::chrono::duration_cast<std::chrono::seconds>(impl->opts.write_timeout);
  so.error_body = [](int status, const std::string& m) { return net::openai_error(status, m); };
  Impl* raw = impl.get();
  impl->server = std::make_unique<net::HttpServer>(
      io, impl->opts.host, impl->opts.port,
      [raw](net::HttpRequest& r, net::ResponseWriter& w) { return raw->handle(r, w); }, so);
  return std::unique_ptr<GatewayServer>(new GatewayServer(std::move(impl)));
}

GatewayServer::GatewayServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GatewayServer::~GatewayServer() = default;

uint16_t GatewayServer::port() const {
  return impl_->server->port();
}

void GatewayServer::start() {
  impl_->server->start();
  asio::co_spawn(impl_->io, impl_->expire_loop(), asio::detached);
  if (impl_->opts.controller) {
    asio::co_spawn(impl_->io, impl_->follow_controller(), asio::detached);
    asio::co_spawn(impl_->io, impl_->report_loop(), asio::detached);
  }
}

void GatewayServer::stop() {
  impl_->stopped = true;
  impl_->server->stop();
  for (auto& [id, w] : impl_->waiting)
    w->timer.cancel();
  impl_->expiry_timer.cancel();
}

Status GatewayServer::set_routing_table(const RoutingTable& table) {
  return impl_->apply_table(table);
}

}  // namespace gf
