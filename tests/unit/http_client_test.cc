// HttpClient against the project's own HttpServer on loopback: whole and streamed bodies,
// connection reuse, refused connections, timeouts and cancellation.
#include "net/http_client.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <optional>
#include <thread>

#include "net/http_server.h"

namespace gf::net {
namespace {

namespace asio = boost::asio;

// Bytes that differ with their position, so that a skipped or repeated piece changes the sum.
std::string patterned(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i * 2654435761u) >> 13);
  return s;
}
uint64_t checksum(std::string_view s) {  // FNV-1a
  uint64_t h = 1469598103934665603u;
  for (char c : s)
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211u;
  return h;
}

// A server on its own thread: /hello answers whole, /stream sends 5 chunks, /slow never answers
// (5 s), /echo describes the request it got, /big answers 100,000 bytes, /stall sends one chunk
// and then nothing for 5 s, /delay answers after 300 ms, /sum answers the size and checksum of
// the body it got, /huge answers 32 MiB.
class ServerThread {
 public:
  explicit ServerThread(uint16_t port = 0)
      : server_(io_, "127.0.0.1", port,
                [this](HttpRequest& r, ResponseWriter& w) { return handle(r, w); }) {
    server_.start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~ServerThread() {
    asio::post(io_, [this] {
      server_.stop();
      io_.stop();
    });
    thread_.join();
  }
  uint16_t port() const { return server_.port(); }
  std::atomic<int> connections_seen{0};

 private:
  asio::awaitable<void> handle(HttpRequest& r, ResponseWriter& w) {
    if (r.path == "/hello") {
      co_await w.send(200, "text/plain", "hello " + r.method + " " + r.body);
    } else if (r.path == "/stream") {
      co_await w.begin_stream(200, "text/event-stream");
      for (int i = 0; i < 5; ++i) {
        std::string chunk = "data: " + std::to_string(i) + "\n\n";
        co_await w.write_chunk(chunk);
      }
      co_await w.end_stream();
    } else if (r.path == "/slow") {
      asio::steady_timer t(io_);
      t.expires_after(std::chrono::seconds(5));
      boost::system::error_code ec;
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      co_await w.send(200, "text/plain", "late");
    } else if (r.path == "/echo") {
      std::string d = r.method + " host=" + r.header("host") + " cl=" + r.header("content-length") +
                      " conn=" + r.header("connection") + " x-a=" + r.header("x-a") +
                      " body=" + r.body;
      co_await w.send(200, "text/plain", d);
    } else if (r.path == "/big") {
      std::string big;
      for (int i = 0; big.size() < 100000; ++i)
        big += std::to_string(i) + ",";
      big.resize(100000);
      co_await w.send(200, "text/plain", big);
    } else if (r.path == "/sum") {
      std::string d = std::to_string(r.body.size()) + " " + std::to_string(checksum(r.body));
      co_await w.send(200, "text/plain", d);
    } else if (r.path == "/huge") {
      co_await w.send(200, "application/octet-stream", patterned(32 << 20));
    } else if (r.path == "/stall" || r.path == "/delay") {
      const bool stall = r.path == "/stall";
      if (stall) {
        co_await w.begin_stream(200, "text/event-stream");
        std::string chunk = "data: 0\n\n";
        co_await w.write_chunk(chunk);
      }
      asio::steady_timer t(io_);
      t.expires_after(stall ? std::chrono::milliseconds(5000) : std::chrono::milliseconds(300));
      boost::system::error_code ec;
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (stall) {
        co_await w.end_stream();
      } else {
        co_await w.send(200, "text/plain", "late ok");
      }
    } else {
      co_await w.send(404, "text/plain", "nope");
    }
  }

  asio::io_context io_{1};
  HttpServer server_;
  std::thread thread_;
};

TEST(HttpClient, BlockingCallReturnsStatusHeadersAndBody) {
  ServerThread s;
  auto r = http_call("127.0.0.1", s.port(), ClientRequest{"POST", "/hello", "body", {}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello POST body");
  EXPECT_EQ(r->header("content-type"), "text/plain");
  auto missing = http_call("127.0.0.1", s.port(), ClientRequest{"GET", "/missing", "", {}});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
}

TEST(HttpClient, RefusedConnectionIsUnavailableAndNamesTheUpstream) {
  uint16_t port = 0;
  {
    ServerThread s;
    port = s.port();
  }
  auto r = http_call("127.0.0.1", port, ClientRequest{"GET", "/hello", "", {}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("127.0.0.1:" + std::to_string(port)), std::string::npos);
}

TEST(HttpClient, TimeoutEndsACallThatNeverAnswers) {
  ServerThread s;
  auto r = http_call("127.0.0.1", s.port(), ClientRequest{"GET", "/slow", "", {}},
                     std::chrono::milliseconds(200));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("timed out"), std::string::npos) << r.error().message;
}

asio::awaitable<void> stream_and_reuse(HttpClient& c, uint16_t port,
                                       std::vector<std::string>& chunks, bool& complete,
                                       int& status, size_t& idle_after,
                                       Result<ClientResponse>& second) {
  {
    // (Named requests: GCC 12 mishandles class temporaries inside co_await expressions.)
    ClientRequest req{"GET", "/stream", "", {}};
    auto s = co_await c.open("127.0.0.1", port, req);
    if (!s) co_return;
    status = (*s)->status();
    while (!(*s)->complete()) {
      auto piece = co_await (*s)->next();
      if (!piece) co_return;
      if (!piece->empty()) chunks.push_back(*piece);
    }
    complete = (*s)->complete();
  }
  idle_after = c.idle_connections();
  ClientRequest hello{"GET", "/hello", "", {}};
  second = co_await c.call("127.0.0.1", port, hello);
}

TEST(HttpClient, StreamsPiecesAndReusesTheConnection) {
  ServerThread s;
  asio::io_context io(1);
  HttpClient c(io);
  std::vector<std::string> chunks;
  bool complete = false;
  int status = 0;
  Result<ClientResponse> second = make_error(ErrorCode::kInternal, "not run");
  size_t idle = 0;
  asio::co_spawn(io, stream_and_reuse(c, s.port(), chunks, complete, status, idle, second),
                 asio::detached);
  io.run();
  EXPECT_TRUE(complete);
  EXPECT_EQ(status, 200);
  std::string all;
  for (const auto& c : chunks)
    all += c;
  EXPECT_EQ(all, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n");
  EXPECT_EQ(idle, 1u);  // kept alive after a complete chunked body
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->status, 200);
}

asio::awaitable<void> two_calls(HttpClient& c, uint16_t port, std::function<void()> between,
                                Result<ClientResponse>& first, Result<ClientResponse>& second) {
  ClientRequest req{"GET", "/hello", "", {}};
  {
    // Two responses open at once: two connections, both pooled when their bodies are read.
    auto a = co_await c.open("127.0.0.1", port, req);
    auto b = co_await c.open("127.0.0.1", port, req);
    if (!a || !b) co_return;
    while (!(*a)->complete())
      (void)co_await (*a)->next();
    while (!(*b)->complete())
      (void)co_await (*b)->next();
  }
  first = co_await c.call("127.0.0.1", port, req);
  between();
  second = co_await c.call("127.0.0.1", port, req);
}

// The upstream restarted (or closed its idle keep-alive connections) between two calls: the
// pooled connection is dead, and the second call must still succeed on a fresh one.
TEST(HttpClient, AStalePooledConnectionIsReplacedByAFreshOne) {
  auto server = std::make_unique<ServerThread>();
  const uint16_t port = server->port();
  asio::io_context io(1);
  HttpClient c(io);
  Result<ClientResponse> first = make_error(ErrorCode::kInternal, "not run");
  Result<ClientResponse> second = make_error(ErrorCode::kInternal, "not run");
  size_t idle_between = 0;
  auto restart = [&] {
    idle_between = c.idle_connections();
    server.reset();  // closes every connection it had
    server = std::make_unique<ServerThread>(port);
  };
  asio::co_spawn(io, two_calls(c, port, restart, first, second), asio::detached);
  io.run();
  ASSERT_TRUE(first.ok()) << first.error().message;
  // Both pooled connections went stale: a retry on the other pooled one would fail too.
  EXPECT_EQ(idle_between, 2u);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->status, 200);
}

// The client writes the request head itself: the caller's headers pass, Host names the upstream,
// Content-Length is the body's own, and a caller's Connection does not stop the reuse.
asio::awaitable<void> echo_twice(HttpClient& c, uint16_t port, Result<ClientResponse>& first,
                                 Result<ClientResponse>& second, size_t& idle_after) {
  ClientRequest req{"POST", "/echo", "abc", {}};
  req.headers["x-a"] = "1";
  req.headers["Content-Length"] = "999";
  req.headers["connection"] = "close";
  first = co_await c.call("127.0.0.1", port, req);
  ClientRequest get{"GET", "/echo", "", {}};
  get.headers["host"] = "example.test";
  second = co_await c.call("127.0.0.1", port, get);
  idle_after = c.idle_connections();
}

TEST(HttpClient, WritesTheRequestHeadAndKeepsTheConnection) {
  ServerThread s;
  asio::io_context io(1);
  HttpClient c(io);
  Result<ClientResponse> first = make_error(ErrorCode::kInternal, "not run");
  Result<ClientResponse> second = make_error(ErrorCode::kInternal, "not run");
  size_t idle = 0;
  asio::co_spawn(io, echo_twice(c, s.port(), first, second, idle), asio::detached);
  io.run();
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->body,
            "POST host=127.0.0.1:" + std::to_string(s.port()) + " cl=3 conn= x-a=1 body=abc");
  ASSERT_TRUE(second.ok()) << second.error().message;
  // A GET without a body has no Content-Length; a Host given by the caller wins.
  EXPECT_EQ(second->body, "GET host=example.test cl= conn= x-a= body=");
  EXPECT_EQ(second->header("content-type"), "text/plain");
  EXPECT_EQ(idle, 1u);  // both calls on one kept-alive connection
}

TEST(HttpClient, AHeaderWithALineBreakIsRefused) {
  ServerThread s;
  ClientRequest req{"GET", "/hello", "", {}};
  req.headers["x-a"] = "1\r\nx-b: 2";
  auto r = http_call("127.0.0.1", s.port(), req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST(HttpClient, ALargeBodyArrivesWholeOverManyReads) {
  ServerThread s;
  auto r = http_call("127.0.0.1", s.port(), ClientRequest{"GET", "/big", "", {}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->body.size(), 100000u);
  EXPECT_EQ(r->body.substr(0, 8), "0,1,2,3,");
}

// More than a socket buffer takes at once, both ways: the first send is partial and the rest
// waits for the peer to read.
TEST(HttpClient, BodiesLargerThanTheSocketBufferGoWholeBothWays) {
  ServerThread s;
  const std::string body = patterned(7 << 20);
  auto up = http_call("127.0.0.1", s.port(), ClientRequest{"POST", "/sum", body, {}});
  ASSERT_TRUE(up.ok()) << up.error().message;
  EXPECT_EQ(up->body, std::to_string(body.size()) + " " + std::to_string(checksum(body)));
  auto down = http_call("127.0.0.1", s.port(), ClientRequest{"GET", "/huge", "", {}});
  ASSERT_TRUE(down.ok()) << down.error().message;
  ASSERT_EQ(down->body.size(), 32u << 20);
  EXPECT_EQ(checksum(down->body), checksum(patterned(32 << 20)));
}

// Opens /stall, takes its first chunk, then reads again: that read ends by the call's deadline
// or, when `cancel_after` is set, by the canceller.
asio::awaitable<void> stall(HttpClient& c, uint16_t port, Duration timeout,
                            std::optional<Duration> cancel_after, std::string& first,
                            Result<std::string>& second, size_t& bytes) {
  ClientRequest req{"GET", "/stall", "", {}};
  CallOptions o;
  o.timeout = timeout;
  o.canceller = std::make_shared<CallCanceller>();
  auto s = co_await c.open("127.0.0.1", port, req, o);
  if (!s) {
    second = s.error();
    co_return;
  }
  while (first.empty()) {
    auto piece = co_await (*s)->next();
    if (!piece) co_return;
    first = *piece;
  }
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer t(ex);
  if (cancel_after) {
    // The canceller fires from another handler while next() waits.
    t.expires_after(*cancel_after);
    auto canceller = o.canceller;
    t.async_wait([canceller](boost::system::error_code ec) {
      if (!ec) canceller->cancel();
    });
  }
  second = co_await (*s)->next();
  bytes = (*s)->body_bytes();
}

TEST(HttpClient, TheDeadlineEndsABodyThatStalls) {
  ServerThread s;
  asio::io_context io(1);
  HttpClient c(io);
  std::string first;
  Result<std::string> second = make_error(ErrorCode::kInternal, "not run");
  size_t bytes = 0;
  asio::co_spawn(
      io, stall(c, s.port(), std::chrono::milliseconds(300), std::nullopt, first, second, bytes),
      asio::detached);
  io.run();
  EXPECT_EQ(first, "data: 0\n\n");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(second.error().message.find("timed out"), std::string::npos) << second.error().message;
  EXPECT_NE(second.error().message.find("after 9 bytes"), std::string::npos)
      << second.error().message;
  EXPECT_EQ(bytes, 9u);
  EXPECT_EQ(c.idle_connections(), 0u);  // a broken-off body does not go back to the pool
}

TEST(HttpClient, CancelEndsABodyThatStalls) {
  ServerThread s;
  asio::io_context io(1);
  HttpClient c(io);
  std::string first;
  Result<std::string> second = make_error(ErrorCode::kInternal, "not run");
  size_t bytes = 0;
  asio::co_spawn(io,
                 stall(c, s.port(), std::chrono::seconds(10), std::chrono::milliseconds(100), first,
                       second, bytes),
                 asio::detached);
  io.run();
  EXPECT_EQ(first, "data: 0\n\n");
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("cancelled"), std::string::npos) << second.error().message;
  EXPECT_EQ(c.idle_connections(), 0u);
}

// Many calls one after another, the first ones with a short deadline, then one that takes longer
// than those deadlines on the same kept-alive connection: a finished call's deadline must not
// close the connection under a later call.
asio::awaitable<void> short_then_slow(HttpClient& c, uint16_t port, int& ok, size_t& idle_between,
                                      Result<ClientResponse>& slow) {
  ClientRequest hello{"GET", "/hello", "", {}};
  CallOptions o;
  o.timeout = std::chrono::milliseconds(100);
  for (int i = 0; i < 50; ++i) {
    auto r = co_await c.call("127.0.0.1", port, hello, o);
    if (r && r->body == "hello GET ") ++ok;
  }
  idle_between = c.idle_connections();
  ClientRequest delay{"GET", "/delay", "", {}};
  slow = co_await c.call("127.0.0.1", port, delay);
}

TEST(HttpClient, AFinishedCallsDeadlineLeavesTheReusedConnectionAlone) {
  ServerThread s;
  asio::io_context io(1);
  HttpClient c(io);
  int ok = 0;
  size_t idle_between = 0;
  Result<ClientResponse> slow = make_error(ErrorCode::kInternal, "not run");
  asio::co_spawn(io, short_then_slow(c, s.port(), ok, idle_between, slow), asio::detached);
  io.run();
  EXPECT_EQ(ok, 50);
  EXPECT_EQ(idle_between, 1u);  // one connection for all 50
  ASSERT_TRUE(slow.ok()) << slow.error().message;
  EXPECT_EQ(slow->body, "late ok");
  EXPECT_EQ(c.idle_connections(), 1u);
}

TEST(HttpClient, ParseHostPort) {
  auto a = parse_host_port("http://127.0.0.1:7070/api");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 7070);
  EXPECT_FALSE(parse_host_port("127.0.0.1").ok());
  EXPECT_FALSE(parse_host_port("host:99999").ok());
  EXPECT_FALSE(parse_host_port("https://x:1").ok());
}

}  // namespace
}  // namespace gf::net
