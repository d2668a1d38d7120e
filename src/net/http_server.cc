#include "net/http_server.h"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <list>
#include <nlohmann/json.hpp>

namespace gf::net {

namespace beast = boost::beast;
namespace http = beast::http;
using asio::use_awaitable;
using asio::ip::tcp;

namespace {

std::string default_error_body(int, const std::string& message) {
  return nlohmann::json{{"error", {{"message", message}}}}.dump();
}

}  // namespace

namespace {
class Session;
constexpr auto kNever = std::chrono::steady_clock::time_point::max();
// How often deadlines are checked: a timeout fires up to this much late.
constexpr auto kSweepEvery = std::chrono::milliseconds(250);
}  // namespace

struct HttpServer::State {
  State(asio::io_context& io, Handler h, ServerOptions o)
      : io(io), acceptor(io), sweep(io), handler(std::move(h)), options(std::move(o)) {
    if (!options.error_body) options.error_body = default_error_body;
  }
  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer sweep;
  std::list<Session*> sessions;  // live connections, for the deadline sweep
  Handler handler;
  ServerOptions options;
  bool stopped = false;
};

namespace {

class Session final : public ResponseWriter, public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<HttpServer::State> st, tcp::socket socket)
      : st_(std::move(st)), socket_(std::move(socket)) {
    registered_ = st_->sessions.insert(st_->sessions.end(), this);
  }
  ~Session() override { st_->sessions.erase(registered_); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Called by the sweep: the operation in progress took too long.
  void expire_if_due(std::chrono::steady_clock::time_point now) {
    if (now < deadline_) return;
    deadline_ = kNever;
    timed_out_ = true;
    beast::error_code ec;
    socket_.close(ec);  // the pending read or write completes with operation_aborted
  }

  // The coroutine's parameter keeps the session alive until it returns: coroutines start lazily,
  // after the caller's own shared_ptr is gone.
  static asio::awaitable<void> run(std::shared_ptr<Session> self) { co_await self->serve(); }

  asio::awaitable<void> serve() {
    beast::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);  // SSE chunks are small: no Nagle delay
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(st_->options.max_body_bytes);
      parser.header_limit(static_cast<std::uint32_t>(st_->options.max_header_bytes));
      arm(st_->options.idle_timeout);
      co_await http::async_read_header(socket_, buffer_, parser,
                                       asio::redirect_error(use_awaitable, ec));
      if (!ec && !parser.is_done()) {
        arm(st_->options.body_timeout);
        co_await http::async_read(socket_, buffer_, parser,
                                  asio::redirect_error(use_awaitable, ec));
        if (timed_out_) break;  // the sweep closed the connection
      }
      if (ec == http::error::body_limit) {
        keep_alive_ = false;
        std::string body = st_->options.error_body(
            413, "request body is larger than " + std::to_string(st_->options.max_body_bytes) +
                     " bytes");
        co_await send(413, "application/json", std::move(body), Headers{});
        co_await linger();
        break;
      }
      if (ec == http::error::header_limit) {
        keep_alive_ = false;
        co_await send(431, "application/json",
                      st_->options.error_body(431, "request headers are too large"));
        break;
      }
      if (ec) {
        if (!timed_out_ && ec != http::error::end_of_stream && ec != asio::error::eof &&
            ec != asio::error::connection_reset && ec != asio::error::operation_aborted) {
          keep_alive_ = false;
          co_await send(400, "application/json",
                        st_->options.error_body(400, "malformed HTTP request: " + ec.message()));
        }
        break;
      }
      disarm();  // a handler may take minutes (long generations)
      auto& raw = parser.get();
      HttpRequest req;
      req.method = std::string(raw.method_string());
      req.target = std::string(raw.target());
      req.path = req.target.substr(0, req.target.find('?'));
      for (const auto& f : raw) {
        std::string name(f.name_string());
        for (char& c : name)
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        req.headers[name] = std::string(f.value());
      }
      req.body = std::move(raw.body());
      keep_alive_ = raw.keep_alive();
      version_ = raw.version();
      responded_ = false;
      ++generation_;
      co_await st_->handler(req, *this);
      stop_watching();
      on_gone_ = nullptr;
      if (!responded_ && !gone_)
        co_await send(500, "application/json", st_->options.error_body(500, "no response"));
      if (gone_ || !keep_alive_) break;
    }
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    socket_.close(ec);
  }

  asio::awaitable<void> send(int status, std::string content_type, std::string body,
                             Headers extra = {}) override {
    stop_watching();
    responded_ = true;
    http::response<http::string_body> res{static_cast<http::status>(status), version_};
    res.set(http::field::server, "gpufleet");
    res.set(http::field::content_type, content_type);
    for (const auto& [k, v] : extra)
      res.set(k, v);
    res.keep_alive(keep_alive_);
    res.body() = std::move(body);
    res.prepare_payload();
    beast::error_code ec;
    arm(st_->options.write_timeout);
    co_await http::async_write(socket_, res, asio::redirect_error(use_awaitable, ec));
    disarm();
    if (ec) gone_ = true;
  }

  asio::awaitable<bool> begin_stream(int status, std::string content_type,
                                     Headers extra = {}) override {
    responded_ = true;  // a disconnect watch stays armed through the stream
    http::response<http::empty_body> res{static_cast<http::status>(status), version_};
    res.set(http::field::server, "gpufleet");
    res.set(http::field::content_type, content_type);
    res.set(http::field::cache_control, "no-cache");
    for (const auto& [k, v] : extra)
      res.set(k, v);
    res.keep_alive(keep_alive_);
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    beast::error_code ec;
    arm(st_->options.write_timeout);
    co_await http::async_write_header(socket_, sr, asio::redirect_error(use_awaitable, ec));
    disarm();
    if (ec) gone_ = true;
    co_return !gone_;
  }

  asio::awaitable<bool> write_chunk(std::string_view data) override {
    if (gone_) co_return false;
    beast::error_code ec;
    arm(st_->options.write_timeout);
    co_await asio::async_write(socket_, http::make_chunk(asio::buffer(data.data(), data.size())),
                               asio::redirect_error(use_awaitable, ec));
    disarm();
    if (ec) gone_ = true;
    co_return !gone_;
  }

  asio::awaitable<void> end_stream() override {
    stop_watching();
    if (gone_) co_return;
    beast::error_code ec;
    arm(st_->options.write_timeout);
    co_await asio::async_write(socket_, http::make_chunk_last(),
                               asio::redirect_error(use_awaitable, ec));
    disarm();
    if (ec) gone_ = true;
  }

  void watch_disconnect(std::function<void()> on_gone) override {
    if (!on_gone) {
      stop_watching();
      on_gone_ = nullptr;
      return;
    }
    on_gone_ = std::move(on_gone);
    if (watching_) return;  // the armed wait will call the new callback
    if (gone_) {
      if (auto f = std::move(on_gone_)) f();
      return;
    }
    watching_ = true;
    uint64_t gen = generation_;
    socket_.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this(), gen](beast::error_code ec) {
                         if (ec || !self->watching_ || gen != self->generation_) return;
                         beast::error_code ec2;
                         // Readable with nothing to read means the peer closed; pipelined
                         // bytes mean it did not.
                         if (self->socket_.available(ec2) == 0) {
                           self->gone_ = true;
                           self->watching_ = false;
                           if (auto f = std::move(self->on_gone_)) f();
                         }
                       });
  }

 private:
  // After refusing a request whose body is still arriving: stop sending, then read and drop what
  // the client still sends (bounded), so it sees our response instead of a reset connection.
  asio::awaitable<void> linger() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    std::array<char, 16384> scratch;
    size_t drained = 0;
    arm(std::chrono::seconds(5));
    while (!ec && drained < (64u << 20)) {
      drained += co_await socket_.async_read_some(asio::buffer(scratch),
                                                  asio::redirect_error(use_awaitable, ec));
    }
  }

  void arm(std::chrono::steady_clock::duration d) {
    deadline_ = std::chrono::steady_clock::now() + d;
  }
  void disarm() { deadline_ = kNever; }

  void stop_watching() {
    if (!watching_) return;
    watching_ = false;
    beast::error_code ec;
    socket_.cancel(ec);
  }

  std::shared_ptr<HttpServer::State> st_;
  tcp::socket socket_;
  // When the operation in progress times out (max: none); the server's sweep closes the socket
  // then. One store per operation instead of a timer armed and cancelled per operation.
  std::chrono::steady_clock::time_point deadline_ = kNever;
  bool timed_out_ = false;
  std::list<Session*>::iterator registered_;
  beast::flat_buffer buffer_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
  bool responded_ = false;
  bool gone_ = false;
  bool watching_ = false;
  uint64_t generation_ = 0;
  std::function<void()> on_gone_;
};

asio::awaitable<void> sweep_loop(std::shared_ptr<HttpServer::State> st) {
  while (!st->stopped) {
    st->sweep.expires_after(kSweepEvery);
    beast::error_code ec;
    co_await st->sweep.async_wait(asio::redirect_error(use_awaitable, ec));
    const auto now = std::chrono::steady_clock::now();
    for (auto it = st->sessions.begin(); it != st->sessions.end();) {
      Session* s = *it++;  // closing may not free it now, but keep the walk safe anyway
      s->expire_if_due(now);
    }
  }
}

asio::awaitable<void> accept_loop(std::shared_ptr<HttpServer::State> st) {
  for (;;) {
    beast::error_code ec;
    tcp::socket socket =
        co_await st->acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
    if (st->stopped) co_return;
    if (ec) continue;  // e.g. EMFILE: keep serving the connections we have
    auto session = std::make_shared<Session>(st, std::move(socket));
    asio::co_spawn(st->io, Session::run(std::move(session)), asio::detached);
  }
}

}  // namespace

HttpServer::HttpServer(asio::io_context& io, const std::string& host, uint16_t port,
                       Handler handler, ServerOptions options)
    : state_(std::make_shared<State>(io, std::move(handler), std::move(options))) {
  tcp::endpoint ep(asio::ip::make_address(host), port);
  state_->acceptor.open(ep.protocol());
  state_->acceptor.set_option(asio::socket_base::reuse_address(true));
  state_->acceptor.bind(ep);
  state_->acceptor.listen(asio::socket_base::max_listen_connections);
}

HttpServer::~HttpServer() {
  stop();
}

uint16_t HttpServer::port() const {
  return state_->acceptor.local_endpoint().port();
}

void HttpServer::start() {
  asio::co_spawn(state_->io, accept_loop(state_), asio::detached);
  asio::co_spawn(state_->io, sweep_loop(state_), asio::detached);
}

void HttpServer::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  beast::error_code ec;
  state_->acceptor.close(ec);
  state_->sweep.cancel();
}

}  // namespace gf::net
