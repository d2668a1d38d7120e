#include "gateway/gateway_server.h"

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <deque>
#include <nlohmann/json.hpp>
#include <random>
#include <unordered_map>

#include "admission/tenant_directory.h"
#include "common/io/log.h"
#include "common/io/metrics.h"
#include "gateway/gateway_metrics.h"
#include "gateway/request_info.h"
#include "gateway/token_usage.h"
#include "net/http_server.h"
#include "net/openai_error.h"
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
  std::optional<Rejected> rejected;
};

}  // namespace

struct GatewayServer::Impl {
  Impl(asio::io_context& io, GatewayOptions o, const Clock& c, TenantDirectory t,
       AdmissionController a)
      : io(io),
        opts(std::move(o)),
        clock(c),
        tenants(std::move(t)),
        admission(std::move(a)),
        router(opts.router),
        client(io, 256) {}

  asio::io_context& io;
  GatewayOptions opts;
  const Clock& clock;
  TenantDirectory tenants;
  AdmissionController admission;
  Router router;
  net::HttpClient client;
  std::unique_ptr<net::HttpServer> server;
  RoutingTable table;
  // What one routing table says of each replica, by id. Its metrics are looked up on its first
  // attempt and kept here for the next ones: a replica's metrics are forgotten only once it has
  // left the table (this entry is gone) and its last attempt has ended.
  struct Upstream {
    net::HostPort address;                          // port 0: the table's address was bad
    std::string model;                              // whose entry lists it
    GatewayMetrics::ForReplica* metrics = nullptr;  // for `model`
  };
  std::unordered_map<std::string, Upstream> addresses;
  // One routing table's models, by name. A model's per-tenant metrics are looked up on each
  // tenant's first request and kept here (a tenant's metrics are never forgotten).
  struct ServedModel {
    const RouteModel* route = nullptr;  // into `table`
    // By tenant: the directory's entries are fixed for the gateway's life.
    std::unordered_map<const TenantSpec*, GatewayMetrics::ForTenant*> tenant_metrics;
  };
  std::map<std::string, ServedModel> models;
  std::unordered_map<uint64_t, std::shared_ptr<Waiter>> waiting;
  uint64_t next_id = 1;
  bool stopped = false;
  // Retry budget (Envoy's): requests retrying at once stay under a share of the requests in
  // flight, with a floor so that a quiet gateway can still retry.
  int active_requests = 0;
  int active_retries = 0;
  // Traffic per (model, revision) since the last report to the controller (canary analysis).
  // By model, then revision; transparent comparators find an entry without building strings.
  std::map<std::string, std::map<std::string, RevisionTraffic, std::less<>>, std::less<>> traffic;
  std::string gateway_id;

  void count(const std::string& model, const std::string& revision, bool error,
             Duration first_byte) {
    auto m = traffic.find(model);
    if (m == traffic.end()) m = traffic.try_emplace(model).first;
    auto r = m->second.find(revision);
    if (r == m->second.end()) r = m->second.try_emplace(revision).first;
    auto& t = r->second;
    if (t.ttft_counts.empty()) {
      t.model = model;
      t.revision = revision;
      t.ttft_counts.assign(kTtftBoundsMs.size() + 1, 0);
    }
    ++t.requests;
    if (error) ++t.errors;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(first_byte).count();
    ++t.ttft_counts[ttft_bucket(ms)];
  }

  asio::awaitable<void> report_loop() {
    asio::steady_timer timer(io);
    while (!stopped) {
      timer.expires_after(std::chrono::seconds(2));
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (stopped) co_return;
      TrafficReport report;
      report.gateway = gateway_id;
      for (auto& [model, revisions] : traffic)
        for (auto& [revision, t] : revisions)
          report.revisions.push_back(std::move(t));
      traffic.clear();
      for (const auto& [model, d] : admission.demand(clock.now())) {
        report.demand.push_back(
            ReportedDemand{model, static_cast<int64_t>(d.queued.length), d.in_flight});
      }
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

  // Every pick ends here: the router learns the outcome (outlier ejection), and the per-replica
  // metrics record it.
  void finish(const Ticket& ticket, Outcome outcome, GatewayMetrics::ForReplica& r,
              const std::string& model, const std::string& replica,
              std::chrono::steady_clock::time_point sent) {
    router.finish(ticket, outcome, clock.now());
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
  static void count_tokens(const RequestInfo& info, GatewayMetrics::ForTenant& tm,
                           const std::optional<TokenUsage>& usage) {
    int64_t in = info.estimated_prompt_tokens();
    if (usage && usage->prompt_tokens) in = *usage->prompt_tokens;
    tm.prompt_tokens->inc(static_cast<double>(in));
    if (usage) tm.completion_tokens->inc(static_cast<double>(usage->completion_tokens));
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
    // `id` outlives this: forward() keeps it in the request's list of tried replicas.
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

  Status apply_table(const RoutingTable& t) {
    std::set<std::string> seen;
    for (const auto& m : t.models) {
      if (Status s = router.update(m); !s) return s;
      seen.insert(m.model);
    }
    for (const auto& [name, m] : models) {
      if (!seen.count(name)) router.remove(name);
    }
    std::unordered_map<std::string, Upstream> before = std::move(addresses);
    addresses.clear();
    table = t;
    models.clear();
    for (const auto& m : table.models) {
      models[m.model].route = &m;
      int replicas = 0;
      for (const auto& rev : m.revisions) {
        for (const auto& x : rev.replicas)
          addresses[x.id] = Upstream{address_of(x), m.model};
        replicas += static_cast<int>(rev.replicas.size());
      }
      // A model without replicas takes nothing at once: its requests wait in the queue (the
      // activator) until replicas appear, and show up as demand.
      std::string name = m.model;
      metrics.queue_length->set({name}, [this, name] {
        return static_cast<double>(admission.demand(name, clock.now()).queued.length);
      });
      std::optional<int> capacity;
      if (replicas == 0) {
        capacity = 0;
      } else if (opts.replica_concurrency > 0) {
        capacity = replicas * opts.replica_concurrency;
      }
      admission.set_model_capacity(m.model, capacity, clock.now());
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
      req.target = fmt::format("/api/v1/routing?after={}", table.version);
      if (table.version == 0) req.target = "/api/v1/routing";
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
      } else if (t->version != table.version) {
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
                  {{"error", problem}, {"version", std::to_string(table.version)}});
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
    while (auto d = admission.dispatch()) {
      auto it = waiting.find(d->id);
      if (it == waiting.end()) continue;
      it->second->dispatched = true;
      it->second->timer.cancel();
    }
  }

  asio::awaitable<void> expire_loop() {
    asio::steady_timer timer(io);
    while (!stopped) {
      for (auto& e : admission.expire(clock.now())) {
        auto it = waiting.find(e.id);
        if (it == waiting.end()) continue;
        it->second->rejected = e.rejection;
        it->second->timer.cancel();
      }
      timer.expires_after(std::chrono::milliseconds(50));
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
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
    for (const auto& [name, m] : models) {
      if (!tenant_allows_model(tenant, name)) continue;
      const auto& allowed = m.route->tenants;
      if (!allowed.empty() &&
          std::find(allowed.begin(), allowed.end(), tenant.name) == allowed.end())
        continue;
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
    if (path == "/metrics" && method == "GET") {
      return w.send(200, "text/plain; version=0.0.4; charset=utf-8", metrics.registry().render());
    }
    if (path == "/v1/routing" && method == "GET") {
      return w.send(200, "application/json", wire::to_json(table));
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
    std::optional<std::string_view> key;
    std::string auth = req.header("authorization");
    if (auth.rfind("Bearer ", 0) == 0) key = std::string_view(auth).substr(7);
    auto tenant = tenants.authenticate(key);
    if (!tenant) {
      return send_error(w, 401, tenant.error().message, "invalid_api_key");
    }
    if (endpoint.empty()) {
      if (method != "GET") return send_error(w, 405, "use GET /v1/models", "method_not_allowed");
      return w.send(200, "application/json", models_json(**tenant));
    }
    if (method != "POST") return send_error(w, 405, "use POST " + req.path, "method_not_allowed");
    return proxy(req, w, **tenant, endpoint);
  }

  asio::awaitable<void> proxy(net::HttpRequest& req, net::ResponseWriter& w,
                              const TenantSpec& tenant, std::string_view endpoint) {
    const auto started = std::chrono::steady_clock::now();
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
    auto route = models.find(model);
    if (route == models.end()) {
      metrics.refused(tenant.name, 404);
      co_await send_error(w, 404, "The model `" + model + "` does not exist", "model_not_found");
      co_return;
    }
    const auto& allowed = route->second.route->tenants;
    if (!tenant_allows_model(tenant, model) ||
        (!allowed.empty() &&
         std::find(allowed.begin(), allowed.end(), tenant.name) == allowed.end())) {
      metrics.requests(metrics.tenant(model, tenant.name), model, tenant.name, 403).inc();
      co_await send_error(w, 403, "tenant " + tenant.name + " may not use model `" + model + "`",
                          "model_not_allowed");
      co_return;
    }
    auto& tm = tenant_metrics(route->second, model, tenant);
    auto count_status = [&](int status) { metrics.requests(tm, model, tenant.name, status).inc(); };
    tm.prompt_bytes->inc(static_cast<double>(info->prompt_bytes));
    // The prompt estimate plus the most it may generate.
    Tokens estimate{info->estimated_prompt_tokens() +
                    info->max_tokens.value_or(opts.default_max_tokens)};
    uint64_t id = next_id++;
    AdmitDecision decision =
        admission.admit(AdmitRequest{id, tenant.name, model, estimate, std::nullopt}, clock.now());
    if (auto* r = std::get_if<Rejected>(&decision)) {
      count_status(r->http_status);
      net::Headers h;
      if (r->retry_after) h["Retry-After"] = seconds_header(*r->retry_after);
      co_await send_error(w, r->http_status, r->reason, to_string(r->code), std::move(h));
      co_return;
    }
    if (std::holds_alternative<Queued>(decision)) {
      auto waiter = std::make_shared<Waiter>(io);
      waiting[id] = waiter;
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
        (void)admission.cancel(id, clock.now());
        pump();
        count_status(499);
        co_return;
      }
      if (waiter->rejected) {
        const Rejected& r = *waiter->rejected;
        count_status(r.http_status);
        net::Headers h;
        if (r.retry_after) h["Retry-After"] = seconds_header(*r.retry_after);
        co_await send_error(w, r.http_status, r.reason, to_string(r.code), std::move(h));
        co_return;
      }
    }
    tm.in_flight->inc();
    int status = co_await forward(req, w, *info, estimate, started, tm);
    tm.in_flight->dec();
    (void)admission.release(id, estimate, clock.now());
    pump();
    count_status(status);
    tm.duration->observe(secs(std::chrono::steady_clock::now() - started));
  }

  // Sends the request to a replica, retrying on others while nothing reached the client. Returns
  // the status the client saw (499 when it went away).
  asio::awaitable<int> forward(net::HttpRequest& req, net::ResponseWriter& w,
                               const RequestInfo& info, Tokens estimate,
                               std::chrono::steady_clock::time_point started,
                               GatewayMetrics::ForTenant& tm) {
    std::vector<uint64_t> blocks = prefix_block_hashes(info.prompt_prefix, opts.prefix);
    std::vector<std::string> tried;
    struct Counted {  // active_requests / active_retries for this request's lifetime
      Impl& g;
      bool retrying = false;
      explicit Counted(Impl& gw) : g(gw) { ++g.active_requests; }
      ~Counted() {
        --g.active_requests;
        if (retrying) --g.active_retries;
      }
    } counted(*this);
    std::string last_error;  // empty until an attempt fails: most requests need none
    // One upstream request for every attempt. The client's body is not read again (the request
    // info has what it needs), so it moves in rather than being copied.
    net::ClientRequest up;
    up.method = "POST";
    up.target = req.target;
    up.body = std::move(req.body);
    up.headers.append("content-type", "application/json");
    if (auto a = req.headers.get("accept"); !a.empty()) up.headers.append("accept", a);
    for (int attempt = 0; attempt <= opts.max_retries; ++attempt) {
      if (attempt > 0) {
        if (!counted.retrying) {
          double budget = std::max(3.0, opts.retry_budget_ratio * active_requests);
          if (active_retries + 1 > budget) break;
          ++active_retries;
          counted.retrying = true;
        }
        metrics.retries->with({info.model}).inc();
      }
      std::vector<std::string_view> avoid(tried.begin(), tried.end());
      RouteRequest rr;
      rr.model = info.model;
      rr.session_key = info.user;
      rr.prefix_blocks = blocks;
      rr.estimated_tokens = estimate;
      rr.avoid = avoid;
      auto pick = router.pick(rr, clock.now());
      if (!pick) {
        last_error = pick.error().message;
        break;
      }
      // The id is kept for the retries to avoid; this attempt names it from there.
      const std::string& replica = tried.emplace_back(pick->replica);
      const std::string revision(pick->revision);
      const Ticket ticket = pick->ticket;
      const auto sent = std::chrono::steady_clock::now();
      auto elapsed = [&] { return std::chrono::steady_clock::now() - started; };
      auto known = addresses.find(replica);
      const bool listed = known != addresses.end();
      // A copy: the table may change while this attempt runs.
      const net::HostPort addr = listed ? known->second.address : net::HostPort{};
      // Stays valid while this attempt runs, even if the replica leaves the table (see Upstream).
      GatewayMetrics::ForReplica& rm =
          replica_metrics(listed ? &known->second : nullptr, info.model, replica);
      auto done = [&](Outcome outcome) { finish(ticket, outcome, rm, info.model, replica, sent); };
      if (addr.port == 0) {
        done(Outcome::kConnectFailure);
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
        done(Outcome::kCancelled);
        co_return 499;
      }
      if (!opened) {
        w.watch_disconnect(nullptr);
        bool timeout = opened.error().message.find("timed out") != std::string::npos;
        done(timeout ? Outcome::kTimeout : Outcome::kConnectFailure);
        count(info.model, revision, true, elapsed());
        last_error = drained ? drain_message(replica) : opened.error().message;
        if (timeout) {
          co_await send_error(w, 504, "the replica did not answer in time", "upstream_timeout");
          co_return 504;
        }
        continue;  // nothing reached the client: another replica may take it
      }
      auto& upstream = **opened;
      const int status = upstream.status();
      if (status >= 500 && attempt < opts.max_retries) {
        w.watch_disconnect(nullptr);
        done(Outcome::kServerError);
        count(info.model, revision, true, elapsed());
        last_error = fmt::format("replica {} answered {}", replica, status);
        continue;
      }
      const Outcome outcome = status >= 500   ? Outcome::kServerError
                              : status >= 400 ? Outcome::kClientError
                                              : Outcome::kSuccess;
      std::string type = content_type_or(upstream.headers(), "application/json");
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
          done(Outcome::kCancelled);
          co_return 499;
        }
        if (!broken) {
          done(Outcome::kServerError);
          count(info.model, revision, true, elapsed());
          last_error = drained ? drain_message(replica) : broken.error().message;
          continue;  // still nothing sent
        }
        done(outcome);
        count(info.model, revision, status >= 500, elapsed());
        if (status == 200) count_tokens(info, tm, parse_usage(body));
        co_await w.send(status, std::move(type), std::move(body));
        co_return status;
      }
      // A stream: every piece goes out as it arrives.
      if (!co_await w.begin_stream(status,
                                   content_type_or(upstream.headers(), "text/event-stream"))) {
        done(Outcome::kCancelled);
        co_return 499;
      }
      bool first = true;
      Duration first_byte{0};
      StreamTokenCounter tokens;
      while (!upstream.complete()) {
        auto piece = co_await upstream.next();
        if (!piece) {
          if (canceller->cancelled() && !drained) {
            done(Outcome::kCancelled);  // the client left
            co_return 499;
          }
          // Bytes already went out: end the stream with an error event, never hang the client.
          done(Outcome::kServerError);
          count(info.model, revision, true, elapsed());
          std::string why = drained ? drain_message(replica) : piece.error().message;
          std::string ev = "data: " + mid_stream_error(why) + "\n\n";
          co_await w.write_chunk(ev);
          co_await w.end_stream();
          count_tokens(info, tm, tokens.usage());
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
          done(Outcome::kCancelled);  // the client left (or stopped reading): drop upstream
          co_return 499;
        }
      }
      done(outcome);
      count(info.model, revision, false, first_byte);
      count_tokens(info, tm, tokens.usage());
      co_await w.end_stream();
      co_return status;
    }
    if (last_error.empty()) last_error = "no replica answered";
    net::Headers retry_after;
    retry_after.emplace("Retry-After", std::string(1, '1'));
    std::string message =
        "no replica of `" + info.model + "` could take the request: " + last_error;
    co_await send_error(w, 503, message, std::string("no_capacity"), std::move(retry_after));
    co_return 503;
  }
};

Result<std::unique_ptr<GatewayServer>> GatewayServer::create(asio::io_context& io,
                                                             GatewayOptions options,
                                                             const Clock& clock) {
  auto tenants = TenantDirectory::create(options.tenants);
  if (!tenants) return tenants.error();
  auto admission = AdmissionController::create(*tenants, options.admission, clock.now());
  if (!admission) return admission.error();
  if (Status s = validate(options.router); !s) return s.error();
  if (Status s = validate(options.prefix); !s) return s.error();
  auto impl = std::make_unique<Impl>(io, std::move(options), clock, std::move(*tenants),
                                     std::move(*admission));
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
}

Status GatewayServer::set_routing_table(const RoutingTable& table) {
  return impl_->apply_table(table);
}

}  // namespace gf
