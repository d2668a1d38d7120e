// AsyncProber against the project's HttpServer on one io_context: results arrive on the next
// call, a failing path fails, and a hung engine fails one probe per round without blocking.
#include "agent/async_prober.h"

#include <gtest/gtest.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

#include "net/http_server.h"

namespace gf {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct Engine {
  asio::io_context& io;
  int hung_requests = 0;
};

// /ready answers 200, /broken 503, /hung never answers (30 s).
asio::awaitable<void> engine(Engine& e, net::HttpRequest& r, net::ResponseWriter& w) {
  if (r.path == "/hung") {
    ++e.hung_requests;
    asio::steady_timer t(e.io);
    t.expires_after(30s);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  const int status = r.path == "/ready" || r.path == "/hung" ? 200 : 503;
  co_await w.send(status, "text/plain", "");
}

// An engine on a free loopback port, serving on e.io.
std::unique_ptr<net::HttpServer> engine_server(Engine& e) {
  auto server = std::make_unique<net::HttpServer>(
      e.io, "127.0.0.1", 0,
      [&e](net::HttpRequest& r, net::ResponseWriter& w) { return engine(e, r, w); });
  server->start();
  return server;
}

// Runs the io_context until `done` holds (bounded): the probes finish in the background.
template <class F>
bool run_until(asio::io_context& io, F done) {
  for (int i = 0; i < 2000 && !done(); ++i)
    io.run_for(5ms);
  return done();
}

TEST(AsyncProber, AnswersFromTheProbeThatFinishedSinceTheLastCall) {
  asio::io_context io(1);
  Engine e{io};
  auto server = engine_server(e);
  AsyncProber prober(io, 1s);
  const uint16_t port = server->port();
  EXPECT_FALSE(prober.probe(port, "/ready"));  // nothing has finished yet
  ASSERT_TRUE(run_until(io, [&] { return prober.in_flight() == 0; }));
  EXPECT_TRUE(prober.probe(port, "/ready"));
  ASSERT_TRUE(run_until(io, [&] { return prober.in_flight() == 0; }));
  EXPECT_TRUE(prober.probe(port, "/ready"));

  EXPECT_FALSE(prober.probe(port, "/broken"));
  ASSERT_TRUE(run_until(io, [&] { return prober.in_flight() == 0; }));
  EXPECT_FALSE(prober.probe(port, "/broken"));  // finished: 503
}

// A probe answered by the process before a restart (the port is the same) says nothing about
// the new one: it is never returned for another epoch (#17, defect 4).
TEST(AsyncProber, AResultIsNeverReturnedForAnotherEpoch) {
  asio::io_context io(1);
  Engine e{io};
  auto server = engine_server(e);
  AsyncProber prober(io, 1s);
  const uint16_t port = server->port();
  EXPECT_FALSE(prober.probe(port, "/ready", 1));
  ASSERT_TRUE(run_until(io, [&] { return prober.in_flight() == 0; }));  // answered 200
  EXPECT_FALSE(prober.probe(port, "/ready", 2));  // the engine restarted: not its answer
  ASSERT_TRUE(run_until(io, [&] { return prober.in_flight() == 0; }));
  EXPECT_TRUE(prober.probe(port, "/ready", 2));  // its own
}

TEST(AsyncProber, AHungEngineFailsEachRoundWithoutBlockingTheCaller) {
  asio::io_context io(1);
  Engine e{io};
  auto server = engine_server(e);
  AsyncProber prober(io, 10s);
  const uint16_t port = server->port();
  EXPECT_FALSE(prober.probe(port, "/hung"));
  ASSERT_TRUE(run_until(io, [&] { return e.hung_requests == 1; }));
  // The engine holds the probe. Each call returns at once (it runs no I/O itself) and fails,
  // without starting a second probe on top of the first.
  for (int round = 0; round < 3; ++round) {
    EXPECT_FALSE(prober.probe(port, "/hung"));
    io.run_for(10ms);
  }
  EXPECT_EQ(e.hung_requests, 1);
  EXPECT_EQ(prober.in_flight(), 1);
}

TEST(AsyncProber, ARefusedConnectionFails) {
  asio::io_context io(1);
  uint16_t port = 0;
  {
    net::HttpServer gone(io, "127.0.0.1", 0, [](net::HttpRequest&, net::ResponseWriter& w) {
      return w.send(200, "text/plain", "");
    });
    port = gone.port();
  }  // closed: connections are refused
  AsyncProber prober(io, 1s);
  EXPECT_FALSE(prober.probe(port, "/ready"));
  ASSERT_TRUE(run_until(io, [&] { return prober.in_flight() == 0; }));
  EXPECT_FALSE(prober.probe(port, "/ready"));
}

}  // namespace
}  // namespace gf
