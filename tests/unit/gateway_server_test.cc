// GatewayServer in-process against fake replicas on loopback, all on one io_context: a replica
// leaving the routing table is drained (requests finish up to the drain timeout, then are cut), a
// client that leaves a silent stream cancels its upstream request at once, and the tokens-in/out
// and per-replica metrics.
#include "gateway/gateway_server.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/io/real_clock.h"
#include "net/http_client.h"
#include "net/http_server.h"

namespace gf {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr const char* kModel = "m";

std::string sse(const std::string& content) {
  return "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + content +
         "\"},\"finish_reason\":null}]}\n\n";
}

// A replica that answers non-streamed requests at once (with a usage object) and streams one
// chunk, then holds the stream until released; it records who went away while held.
class FakeReplica {
 public:
  explicit FakeReplica(asio::io_context& io)
      : io_(io), server_(io, "127.0.0.1", 0, [this](net::HttpRequest& r, net::ResponseWriter& w) {
          return handle(r, w);
        }) {
    server_.start();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(server_.port()); }
  // Lets the oldest held stream finish.
  void release_one() {
    ASSERT_FALSE(held_.empty());
    held_.front()->cancel();
    held_.pop_front();
  }

  int requests = 0;
  int refuse_next = 0;  // requests to answer 503 before anything (as an engine shutting down)
  std::vector<std::string> request_ids;  // the x-request-id of each request, in order
  int held = 0;                          // streams waiting to be released
  int gone = 0;      // streams whose client (the gateway) closed while they were held
  int finished = 0;  // streams that ran to the end

 private:
  asio::awaitable<void> handle(net::HttpRequest& r, net::ResponseWriter& w) {
    ++requests;
    request_ids.emplace_back(r.headers.get("x-request-id"));
    if (refuse_next > 0) {
      --refuse_next;
      co_await w.send(503, "application/json", R"({"error":{"message":"shutting down"}})");
      co_return;
    }
    if (r.body.find("\"stream\":true") == std::string::npos) {
      co_await w.send(200, "application/json",
                      R"({"choices":[{"message":{"content":"hi"}}],)"
                      R"("usage":{"prompt_tokens":11,"completion_tokens":7}})");
      co_return;
    }
    co_await w.begin_stream(200, "text/event-stream");
    co_await w.write_chunk(sse("a"));
    auto timer = std::make_shared<asio::steady_timer>(io_);
    timer->expires_after(30s);
    bool client_gone = false;
    w.watch_disconnect([timer, &client_gone] {
      client_gone = true;
      timer->cancel();
    });
    held_.push_back(timer);
    ++held;
    boost::system::error_code ec;
    co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    --held;
    if (client_gone) {
      ++gone;
      co_return;
    }
    w.watch_disconnect(nullptr);
    co_await w.write_chunk(sse("b"));
    co_await w.write_chunk(sse("c"));
    co_await w.write_chunk("data: [DONE]\n\n");
    co_await w.end_stream();
    ++finished;
  }

  asio::io_context& io_;
  net::HttpServer server_;
  std::deque<std::shared_ptr<asio::steady_timer>> held_;
};

RoutingTable table_of(const std::string& id, const std::string& address) {
  RoutingTable t;
  t.version = 1;
  t.models.push_back(RouteModel{kModel, kModel, "least-outstanding", {}, {}});
  t.models.back().revisions.push_back(RouteRevision{"r1", 1, {RouteReplica{id, address}}});
  return t;
}

// `first` and `second` as the model's replicas, in that order.
RoutingTable table_of_two(const std::string& first, const std::string& second, uint64_t version) {
  RoutingTable t;
  t.version = version;
  t.models.push_back(RouteModel{kModel, kModel, "least-outstanding", {}, {}});
  t.models.back().revisions.push_back(
      RouteRevision{"r1", 1, {RouteReplica{"a", first}, RouteReplica{"b", second}}});
  return t;
}

net::ClientRequest chat(bool stream) {
  net::ClientRequest r;
  r.method = "POST";
  r.target = "/v1/chat/completions";
  r.headers["content-type"] = "application/json";
  r.body = std::string(R"({"model":"m","messages":[{"role":"user","content":"hello there"}],)") +
           (stream ? R"("stream":true,)" : "") + R"("max_tokens":8})";
  return r;
}

// Waits (polling the io_context's own timers) until `done` holds; false after `limit`.
asio::awaitable<bool> until(std::function<bool()> done, Duration limit = 5s) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (auto waited = 0ms; waited < limit; waited += 5ms) {
    if (done()) co_return true;
    t.expires_after(5ms);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return done();
}

// Reads the rest of a stream; the body read so far is appended to `out`.
asio::awaitable<Status> drain_body(net::ResponseStream& s, std::string& out) {
  while (!s.complete()) {
    auto piece = co_await s.next();
    if (!piece) co_return piece.error();
    out += *piece;
  }
  co_return Status{};
}

double metric(const std::string& text, const std::string& series) {
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

struct Harness {
  asio::io_context io{1};
  RealClock clock;
  net::HttpClient client{io, 0};
  std::unique_ptr<GatewayServer> gateway;

  // Starts the gateway with `first` as the model's only replica, as "a".
  void start(GatewayOptions o, const FakeReplica& first) {
    o.port = 0;
    auto g = GatewayServer::create(io, std::move(o), clock);
    ASSERT_TRUE(g) << g.error().message;
    gateway = std::move(*g);
    gateway->start();
    ASSERT_TRUE(gateway->set_routing_table(table_of("a", first.address())));
  }
  net::CallOptions call_options(std::shared_ptr<net::CallCanceller> c = nullptr) {
    net::CallOptions o;
    o.timeout = 20s;
    o.canceller = std::move(c);
    return o;
  }
  // Runs the test coroutine to its end (bounded); rethrows what it threw.
  void run(asio::awaitable<void> body) {
    bool finished = false;
    std::exception_ptr error;
    asio::co_spawn(io, std::move(body), [&](std::exception_ptr e) {
      finished = true;
      error = e;
      gateway->stop();
      io.stop();
    });
    io.run_for(30s);
    ASSERT_TRUE(finished) << "the test did not finish in 30 s";
    if (error) std::rethrow_exception(error);
  }
};

// (A named coroutine, not a lambda: GCC 12 loses a lambda coroutine's captures.)
asio::awaitable<void> drain_case(Harness& h, FakeReplica& a, FakeReplica& b, uint16_t port) {
  // (Named arguments: GCC 12 mishandles class temporaries inside co_await expressions.)
  const std::string kHost = "127.0.0.1";
  net::ClientRequest stream_req = chat(true), whole_req = chat(false);
  net::CallOptions opts = h.call_options();
  auto s1 = co_await h.client.open(kHost, port, stream_req, opts);
  auto s2 = co_await h.client.open(kHost, port, stream_req, opts);
  EXPECT_TRUE(s1 && s2);
  if (!s1 || !s2) co_return;
  std::function<bool()> cond1 = [&] { return a.held == 2; };
  bool ok1 = co_await until(cond1);
  EXPECT_TRUE(ok1);
  // a leaves; b takes new requests. a's two streams are in flight: one finishes in time.
  EXPECT_TRUE(h.gateway->set_routing_table(table_of("b", b.address())));
  a.release_one();
  std::string body1, body2;
  Status st1 = co_await drain_body(**s1, body1);
  Status st2 = co_await drain_body(**s2, body2);
  EXPECT_TRUE(st1 && st2);
  EXPECT_NE(body1.find("[DONE]"), std::string::npos) << body1;
  EXPECT_EQ(body1.find("error"), std::string::npos) << body1;
  // The other outlived the drain timeout: cut, with an error event naming why.
  EXPECT_NE(body2.find("drain timeout"), std::string::npos) << body2;
  EXPECT_EQ(body2.find("[DONE]"), std::string::npos) << body2;
  std::function<bool()> cond2 = [&] { return a.gone == 1; };
  bool ok2 = co_await until(cond2);
  EXPECT_TRUE(ok2);
  EXPECT_EQ(a.finished, 1);
  auto r = co_await h.client.call(kHost, port, whole_req, opts);
  EXPECT_TRUE(r && r->status == 200);
  EXPECT_EQ(a.requests, 2);
  EXPECT_EQ(b.requests, 1);
  // a is gone for good: its per-replica series went with it; b's are there.
  net::ClientRequest m;
  m.target = "/metrics";
  auto text = co_await h.client.call(kHost, port, m, opts);
  EXPECT_TRUE(text);
  if (!text) co_return;
  EXPECT_EQ(text->body.find("replica=\"a\""), std::string::npos);
  EXPECT_NE(text->body.find("replica=\"b\""), std::string::npos);
}

// Waits `d` on the io_context's clock: for a test of what a timer does when.
asio::awaitable<void> pause(Duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  boost::system::error_code ec;
  co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// The drain timeout is 1 s. a leaves at 0 ms, comes back and leaves again at 300 ms: its stream
// must live on past 1 s (the first departure's timer) and finish when released at 1.1 s.
asio::awaitable<void> leave_twice_case(Harness& h, FakeReplica& a, FakeReplica& b, uint16_t port) {
  const std::string kHost = "127.0.0.1";
  net::ClientRequest stream_req = chat(true);
  net::CallOptions opts = h.call_options();
  auto s = co_await h.client.open(kHost, port, stream_req, opts);
  EXPECT_TRUE(s);
  if (!s) co_return;
  std::function<bool()> held = [&] { return a.held == 1; };
  bool ok = co_await until(held);
  EXPECT_TRUE(ok);
  EXPECT_TRUE(h.gateway->set_routing_table(table_of("b", b.address())));
  EXPECT_TRUE(h.gateway->set_routing_table(table_of("a", a.address())));
  const Duration before_second = 300ms, after_second = 800ms;  // named: GCC 12, see above
  co_await pause(before_second);
  EXPECT_TRUE(h.gateway->set_routing_table(table_of("b", b.address())));
  co_await pause(after_second);  // 1.1 s after the first departure, 0.8 s after the second
  EXPECT_EQ(a.gone, 0) << "cut by the first departure's drain timer";
  a.release_one();
  std::string body;
  Status st = co_await drain_body(**s, body);
  EXPECT_TRUE(st.ok());
  EXPECT_NE(body.find("[DONE]"), std::string::npos) << body;
  EXPECT_EQ(body.find("drain timeout"), std::string::npos) << body;
  EXPECT_EQ(a.finished, 1);
}

asio::awaitable<void> silent_case(Harness& h, FakeReplica& a, uint16_t port) {
  const std::string kHost = "127.0.0.1";
  net::ClientRequest stream_req = chat(true);
  auto canceller = std::make_shared<net::CallCanceller>();
  net::CallOptions opts = h.call_options(canceller);
  auto s = co_await h.client.open(kHost, port, stream_req, opts);
  EXPECT_TRUE(s);
  if (!s) co_return;
  auto first = co_await (*s)->next();
  EXPECT_TRUE(first && first->find("data:") != std::string::npos);
  std::function<bool()> cond3 = [&] { return a.held == 1; };
  bool ok3 = co_await until(cond3);
  EXPECT_TRUE(ok3);
  // The replica now sends nothing (as while a request waits in the engine's queue). The client
  // leaves: the gateway must close its upstream request without waiting for a next chunk.
  canceller->cancel();
  std::function<bool()> cond4 = [&] { return a.gone == 1; };
  bool ok4 = co_await until(cond4);
  EXPECT_TRUE(ok4) << "the replica still holds the request of a client that left";
  EXPECT_EQ(a.finished, 0);
}

asio::awaitable<void> tokens_case(Harness& h, FakeReplica& a, uint16_t port) {
  const std::string kHost = "127.0.0.1";
  net::ClientRequest stream_req = chat(true), whole_req = chat(false);
  net::CallOptions opts = h.call_options();
  auto whole = co_await h.client.call(kHost, port, whole_req, opts);
  EXPECT_TRUE(whole && whole->status == 200);
  // A made-up model is a 404 that must not add a series per name to /metrics.
  net::ClientRequest bogus = whole_req;
  bogus.body = R"({"model":"made-up-model-123","messages":[{"role":"user","content":"x"}]})";
  auto missing = co_await h.client.call(kHost, port, bogus, opts);
  EXPECT_TRUE(missing && missing->status == 404);
  auto s = co_await h.client.open(kHost, port, stream_req, opts);
  EXPECT_TRUE(s);
  if (!s) co_return;
  std::function<bool()> cond5 = [&] { return a.held == 1; };
  bool ok5 = co_await until(cond5);
  EXPECT_TRUE(ok5);
  a.release_one();
  std::string body;
  Status ok6 = co_await drain_body(**s, body);
  EXPECT_TRUE(ok6.ok());
  net::ClientRequest m;
  m.target = "/metrics";
  auto text = co_await h.client.call(kHost, port, m, opts);
  EXPECT_TRUE(text);
  if (!text) co_return;
  const std::string labels = "{model=\"m\",tenant=\"anonymous\"}";
  // 7 from the whole response's usage + 3 streamed chunks with text (a, b, c).
  EXPECT_EQ(metric(text->body, "gpufleet_gateway_completion_tokens_total" + labels), 10);
  // 11 from usage + the stream's estimate, "hello there" (11 bytes) / 4 rounded up = 3.
  EXPECT_EQ(metric(text->body, "gpufleet_gateway_prompt_tokens_total" + labels), 14);
  EXPECT_EQ(metric(text->body,
                   "gpufleet_gateway_replica_duration_seconds_count{model=\"m\",replica=\"a\"}"),
            2);
  EXPECT_EQ(
      metric(text->body, "gpufleet_gateway_replica_ttft_seconds_count{model=\"m\",replica=\"a\"}"),
      1);
  EXPECT_EQ(text->body.find("made-up-model"), std::string::npos);
  EXPECT_EQ(
      metric(text->body,
             "gpufleet_gateway_requests_total{model=\"\",tenant=\"anonymous\",status=\"404\"}"),
      1);
}

// The request id: the client's passes through to the replica and back; without one the gateway
// makes one, different for each request; a retry on another replica carries the same id; an id
// that cannot be passed on is a 400 that names the header, and reaches no replica.
asio::awaitable<void> request_id_case(Harness& h, FakeReplica& a, FakeReplica& b, uint16_t port) {
  const std::string kHost = "127.0.0.1";
  net::CallOptions opts = h.call_options();
  net::ClientRequest given = chat(false);
  given.headers["x-request-id"] = "trace-42:a/b";
  auto r1 = co_await h.client.call(kHost, port, given, opts);
  EXPECT_TRUE(r1 && r1->status == 200);
  if (!r1) co_return;
  EXPECT_EQ(r1->header("x-request-id"), "trace-42:a/b");
  net::ClientRequest plain = chat(false);
  auto r2 = co_await h.client.call(kHost, port, plain, opts);
  auto r3 = co_await h.client.call(kHost, port, plain, opts);
  EXPECT_TRUE(r2 && r3);
  if (!r2 || !r3) co_return;
  EXPECT_EQ(r2->header("x-request-id").size(), 32u) << r2->header("x-request-id");
  EXPECT_NE(r2->header("x-request-id"), r3->header("x-request-id"));
  std::vector<std::string> seen = a.request_ids;
  seen.insert(seen.end(), b.request_ids.begin(), b.request_ids.end());
  std::sort(seen.begin(), seen.end());
  std::vector<std::string> sent = {"trace-42:a/b", r2->header("x-request-id"),
                                   r3->header("x-request-id")};
  std::sort(sent.begin(), sent.end());
  EXPECT_EQ(seen, sent);

  // a refuses the next request it gets: that request is retried on b with the same id. (Sent
  // until a got one: the router may pick b first.)
  a.refuse_next = 1;
  std::string retried;
  for (int i = 0; i < 20 && a.refuse_next > 0; ++i) {
    auto r4 = co_await h.client.call(kHost, port, plain, opts);
    EXPECT_TRUE(r4 && r4->status == 200);
    if (!r4) co_return;
    retried = r4->header("x-request-id");
  }
  EXPECT_EQ(a.refuse_next, 0) << "a was never tried";
  EXPECT_EQ(a.request_ids.back(), retried);
  EXPECT_EQ(b.request_ids.back(), retried) << "the retry did not carry the request's id";
  const size_t before = a.request_ids.size() + b.request_ids.size();

  net::ClientRequest bad = chat(false);
  bad.headers["x-request-id"] = "has space";
  auto r5 = co_await h.client.call(kHost, port, bad, opts);
  EXPECT_TRUE(r5);
  if (!r5) co_return;
  EXPECT_EQ(r5->status, 400);
  EXPECT_NE(r5->body.find("x-request-id header: character 4"), std::string::npos) << r5->body;
  EXPECT_EQ(a.request_ids.size() + b.request_ids.size(), before);
  // Answers the gateway gives itself carry the id too.
  net::ClientRequest unknown = chat(false);
  unknown.headers["x-request-id"] = "lost-1";
  unknown.body = R"({"model":"nope","messages":[{"role":"user","content":"x"}]})";
  auto r6 = co_await h.client.call(kHost, port, unknown, opts);
  EXPECT_TRUE(r6 && r6->status == 404);
  if (r6) {
    EXPECT_EQ(r6->header("x-request-id"), "lost-1");
  }
}

TEST(GatewayServer, EveryAttemptAndAnswerCarriesTheRequestsId) {
  Harness h;
  FakeReplica a(h.io), b(h.io);
  h.start(GatewayOptions{}, a);
  ASSERT_TRUE(h.gateway->set_routing_table(table_of_two(a.address(), b.address(), 2)));
  h.run(request_id_case(h, a, b, h.gateway->port()));
}

// Calls the gateway and sets `status` to the answer's (-1: no answer). (A named coroutine: GCC 12
// loses a lambda coroutine's captures.)
asio::awaitable<void> call_status(net::HttpClient& client, uint16_t port, net::ClientRequest req,
                                  net::CallOptions opts, std::optional<int>& status) {
  const std::string host = "127.0.0.1";  // named: GCC 12, see above
  auto res = co_await client.call(host, port, req, opts);
  status = res ? res->status : -1;
}

// A model without replicas: a request waits (scale from zero) and times out at its deadline,
// woken by the serving core's next_deadline rather than a poll; one that is waiting when a
// replica appears is served.
asio::awaitable<void> queue_case(Harness& h, FakeReplica& a, uint16_t port) {
  const std::string kHost = "127.0.0.1";
  net::ClientRequest whole_req = chat(false);
  net::CallOptions opts = h.call_options();
  RoutingTable cold = table_of("a", a.address());
  cold.version = 2;
  cold.models.back().revisions.back().replicas.clear();
  EXPECT_TRUE(h.gateway->set_routing_table(cold));
  const auto asked = std::chrono::steady_clock::now();
  auto r = co_await h.client.call(kHost, port, whole_req, opts);
  const Duration waited = std::chrono::steady_clock::now() - asked;
  EXPECT_TRUE(r);
  if (!r) co_return;
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("queue_timeout"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("scaled to zero"), std::string::npos) << r->body;
  EXPECT_GE(waited, Duration(300ms));
  EXPECT_LT(waited, Duration(5s));
  EXPECT_EQ(a.requests, 0);

  // Queued again; a replica appears while it waits.
  std::optional<int> status;
  asio::co_spawn(h.io, call_status(h.client, port, whole_req, opts, status), asio::detached);
  const Duration before = 100ms;  // named: GCC 12, see above
  co_await pause(before);
  EXPECT_FALSE(status.has_value());
  RoutingTable warm = table_of("a", a.address());
  warm.version = 3;
  EXPECT_TRUE(h.gateway->set_routing_table(warm));
  std::function<bool()> answered = [&] { return status.has_value(); };
  bool ok = co_await until(answered);
  EXPECT_TRUE(ok);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(a.requests, 1);
}

TEST(GatewayServer, AQueuedRequestTimesOutAtItsDeadlineOrIsServedWhenAReplicaAppears) {
  Harness h;
  FakeReplica a(h.io);
  GatewayOptions o;
  o.admission.queue_timeout = 300ms;
  h.start(o, a);
  h.run(queue_case(h, a, h.gateway->port()));
}

// A tenant of 1000 tokens/min sends requests that may use 602 tokens each (max_tokens 600 and a
// 2-token prompt) and use 18 (the replica's usage): charged what they used, three in a row fit;
// charged their estimates, the second would be refused.
asio::awaitable<void> charge_case(Harness& h, uint16_t port) {
  const std::string kHost = "127.0.0.1";
  net::ClientRequest req = chat(false);
  req.headers["authorization"] = "Bearer key-acme";
  req.body = R"({"model":"m","messages":[{"role":"user","content":"hello there"}],)"
             R"("max_tokens":600})";
  net::CallOptions opts = h.call_options();
  for (int i = 0; i < 3; ++i) {
    auto r = co_await h.client.call(kHost, port, req, opts);
    EXPECT_TRUE(r);
    if (!r) co_return;
    EXPECT_EQ(r->status, 200) << "request " << i << ": " << r->body;
  }
}

TEST(GatewayServer, ATenantIsChargedTheTokensItUsedNotItsEstimate) {
  Harness h;
  FakeReplica a(h.io);
  GatewayOptions o;
  TenantSpec acme;
  acme.name = "acme";
  // SHA-256 of "key-acme".
  acme.api_key_hashes = {"sha256:6371cb7a907cc8f10740229732c4b6164b285169494b85304468313513427878"};
  acme.tokens_per_minute = Tokens(1000);
  o.tenants = {acme};
  h.start(o, a);
  h.run(charge_case(h, h.gateway->port()));
}

TEST(GatewayServer, AReplicaLeavingTheTableFinishesWithinTheDrainTimeoutOrIsCut) {
  Harness h;
  FakeReplica a(h.io), b(h.io);
  GatewayOptions o;
  o.drain_timeout = 300ms;
  h.start(o, a);
  h.run(drain_case(h, a, b, h.gateway->port()));
}

TEST(GatewayServer, AReplicaThatLeavesAgainGetsAWholeDrainTimeoutFromItsLastDeparture) {
  Harness h;
  FakeReplica a(h.io), b(h.io);
  GatewayOptions o;
  o.drain_timeout = 1s;
  h.start(o, a);
  h.run(leave_twice_case(h, a, b, h.gateway->port()));
}

TEST(GatewayServer, AClientLeavingASilentStreamCancelsTheUpstreamRequestAtOnce) {
  Harness h;
  FakeReplica a(h.io);
  h.start(GatewayOptions{}, a);
  h.run(silent_case(h, a, h.gateway->port()));
}

TEST(GatewayServer, CountsTokensInAndOutFromUsageOrStreamedChunks) {
  Harness h;
  FakeReplica a(h.io);
  h.start(GatewayOptions{}, a);
  h.run(tokens_case(h, a, h.gateway->port()));
}

}  // namespace
}  // namespace gf
