// HttpServer's protections against clients, with plain blocking sockets as the clients: a client
// that stops reading is cut by the write timeout, one that trickles its body by the body timeout,
// and one that leaves a silent stream is noticed at once by the disconnect watch.
#include "net/http_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace gf::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

// Set once by the server thread, awaited (bounded) by the test thread.
class Flag {
 public:
  void set() {
    std::lock_guard l(mu_);
    set_ = true;
    cv_.notify_all();
  }
  bool wait(std::chrono::seconds limit) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, limit, [&] { return set_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
};

class Server {
 public:
  Server(Handler h, ServerOptions o) : server_(io_, "127.0.0.1", 0, std::move(h), std::move(o)) {
    server_.start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Server() {
    asio::post(io_, [this] {
      server_.stop();
      io_.stop();
    });
    thread_.join();
  }
  asio::io_context& io() { return io_; }
  tcp::socket connect() {
    tcp::socket s(client_io_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_.port()));
    timeval tv{10, 0};  // a read that the server never ends fails the test instead of hanging it
    setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
  }

 private:
  asio::io_context io_{1};
  asio::io_context client_io_;
  HttpServer server_;
  std::thread thread_;
};

// The handlers are named coroutines that the server's handler lambdas call: GCC 12 mishandles
// temporaries in lambda coroutines.
struct FloodState {
  Flag ended;
  std::atomic<bool> last_write_ok{true};
  std::atomic<size_t> written{0};
};

asio::awaitable<void> flood(FloodState& st, ResponseWriter& w) {
  co_await w.begin_stream(200, "text/event-stream");
  const std::string chunk(64 << 10, 'x');
  bool ok = true;
  while (ok && st.written < (512u << 20)) {
    ok = co_await w.write_chunk(chunk);
    if (ok) st.written += chunk.size();
  }
  st.last_write_ok = ok;
  st.ended.set();
}

asio::awaitable<void> answer_ok(std::atomic<int>& handled, ResponseWriter& w) {
  ++handled;
  co_await w.send(200, "text/plain", "ok");
}

struct SilentState {
  Flag gone;
  Flag watching;
  asio::io_context* io = nullptr;
};

asio::awaitable<void> silent_stream(SilentState& st, ResponseWriter& w) {
  co_await w.begin_stream(200, "text/event-stream");
  co_await w.write_chunk("data: 1\n\n");
  asio::steady_timer t(*st.io);
  t.expires_after(30s);
  bool left = false;
  w.watch_disconnect([&] {
    left = true;
    t.cancel();
  });
  st.watching.set();
  boost::system::error_code ec;
  co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (left) st.gone.set();
}

TEST(HttpServer, AClientThatStopsReadingIsCutByTheWriteTimeout) {
  FloodState st;
  ServerOptions o;
  o.write_timeout = 1s;
  Server s([&](HttpRequest&, ResponseWriter& w) { return flood(st, w); }, o);
  tcp::socket c = s.connect();
  asio::write(c, asio::buffer(std::string("GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")));
  // Never read: the socket buffers fill, and the next write waits past the timeout.
  ASSERT_TRUE(st.ended.wait(20s)) << "the handler is still writing to a client that does not read";
  EXPECT_FALSE(st.last_write_ok);
  EXPECT_LT(st.written.load(), 512u << 20);
}

TEST(HttpServer, AClientThatTricklesItsBodyIsCutByTheBodyTimeout) {
  std::atomic<int> handled{0};
  ServerOptions o;
  o.body_timeout = 1s;
  Server s([&](HttpRequest&, ResponseWriter& w) { return answer_ok(handled, w); }, o);
  tcp::socket c = s.connect();
  asio::write(c, asio::buffer(std::string(
                     "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b")));
  char buf[256];
  boost::system::error_code ec;
  size_t n = c.read_some(asio::buffer(buf), ec);
  // Closed by the server (EOF or reset), not by our 10 s receive timeout (EAGAIN).
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(handled.load(), 0);
}

TEST(HttpServer, TheDisconnectWatchSeesAClientLeaveASilentStream) {
  SilentState st;
  Server s([&](HttpRequest&, ResponseWriter& w) { return silent_stream(st, w); }, ServerOptions{});
  st.io = &s.io();
  tcp::socket c = s.connect();
  asio::write(c, asio::buffer(std::string("GET /s HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::string got;
  char buf[1024];
  while (got.find("data: 1") == std::string::npos) {
    boost::system::error_code ec;
    size_t n = c.read_some(asio::buffer(buf), ec);
    ASSERT_FALSE(ec) << ec.message();
    got.append(buf, n);
  }
  ASSERT_TRUE(st.watching.wait(10s));
  c.close();
  EXPECT_TRUE(st.gone.wait(10s)) << "the handler did not learn that its client left";
}

}  // namespace
}  // namespace gf::net
