#include "net/http_client.h"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <charconv>
#include <limits>
#include <vector>

namespace gf::net {

namespace beast = boost::beast;
namespace http = beast::http;
using asio::use_awaitable;
using asio::ip::tcp;

struct HttpClient::Pool {
  asio::io_context& io;
  size_t max_idle;
  struct Idle {
    std::unique_ptr<beast::tcp_stream> conn;
    std::chrono::steady_clock::time_point since;
  };
  std::map<std::string, std::vector<Idle>> idle;
};

HttpClient::HttpClient(asio::io_context& io, size_t max_idle_per_upstream)
    : pool_(std::make_shared<Pool>(Pool{io, max_idle_per_upstream, {}})) {}

HttpClient::~HttpClient() = default;

namespace {
constexpr auto kMaxIdleAge = std::chrono::seconds(4);
}  // namespace

size_t HttpClient::idle_connections() const {
  size_t n = 0;
  for (const auto& [k, v] : pool_->idle)
    n += v.size();
  return n;
}

namespace {

std::string upstream_key(const std::string& host, uint16_t port) {
  return host + ":" + std::to_string(port);
}

Error unavailable(const std::string& key, const std::string& what) {
  return make_error(ErrorCode::kUnavailable, key + ": " + what);
}

// Opens a connection within the connect timeout. Numeric addresses skip the resolver.
asio::awaitable<Result<std::unique_ptr<beast::tcp_stream>>> connect(asio::io_context& io,
                                                                    std::string host, uint16_t port,
                                                                    Duration timeout) {
  auto s = std::make_unique<beast::tcp_stream>(io);
  beast::error_code ec;
  std::vector<tcp::endpoint> endpoints;
  auto addr = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (!ec) {
    endpoints.emplace_back(addr, port);
  } else {
    tcp::resolver resolver(io);
    auto results = co_await resolver.async_resolve(host, std::to_string(port),
                                                   asio::redirect_error(use_awaitable, ec));
    if (ec) co_return unavailable(upstream_key(host, port), "cannot resolve: " + ec.message());
    for (const auto& r : results)
      endpoints.push_back(r.endpoint());
  }
  s->expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
  co_await s->async_connect(endpoints, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    co_return unavailable(upstream_key(host, port),
                          ec == beast::error::timeout ? "connect timed out" : ec.message());
  }
  s->socket().set_option(tcp::no_delay(true), ec);
  co_return std::move(s);
}

class Stream final : public ResponseStream {
 public:
  Stream(std::shared_ptr<HttpClient::Pool> pool, std::string key,
         std::unique_ptr<beast::tcp_stream> conn, std::shared_ptr<CallCanceller> canceller,
         std::chrono::steady_clock::time_point deadline)
      : pool_(std::move(pool)),
        key_(std::move(key)),
        conn_(std::move(conn)),
        canceller_(std::move(canceller)),
        deadline_(deadline) {
    // Bodies stream through; nothing accumulates here.
    parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (canceller_) {
      beast::tcp_stream* raw = conn_.get();
      canceller_->set_hook([raw] {
        beast::error_code ec;
        raw->socket().close(ec);
      });
    }
  }
  ~Stream() override {
    if (canceller_) canceller_->set_hook(nullptr);
    // A complete body leaves the connection ready for the next request.
    if (done_ && parser_.keep_alive() && pool_->max_idle > 0) {
      conn_->expires_never();
      auto& idle = pool_->idle[key_];
      if (idle.size() < pool_->max_idle)
        idle.push_back(HttpClient::Pool::Idle{std::move(conn_), std::chrono::steady_clock::now()});
    }
  }

  // Sends the request and reads the head. `retryable` tells a stale kept-alive connection.
  asio::awaitable<Status> start(const ClientRequest& in, bool reused, bool& retryable) {
    retryable = false;
    beast::error_code ec;
    http::verb verb = http::string_to_verb(in.method);
    if (verb == http::verb::unknown)
      co_return make_error(ErrorCode::kInvalidArgument, "unknown HTTP method " + in.method);
    http::request<http::string_body> req{verb, in.target, 11};
    req.set(http::field::host, key_);
    for (const auto& [k, v] : in.headers)
      req.set(k, v);
    req.body() = in.body;
    req.keep_alive(true);
    if (!in.body.empty() || verb == http::verb::post || verb == http::verb::put)
      req.prepare_payload();
    conn_->expires_at(deadline_);
    co_await http::async_write(*conn_, req, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      retryable = reused && !cancelled();
      co_return failure("sending the request failed: " + ec.message(), ec);
    }
    co_await http::async_read_header(*conn_, buffer_, parser_,
                                     asio::redirect_error(use_awaitable, ec));
    if (ec) {
      retryable = reused && !cancelled() &&
                  (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                   ec == asio::error::eof || ec == asio::error::broken_pipe);
      co_return failure("no response: " + ec.message(), ec);
    }
    for (const auto& f : parser_.get()) {
      std::string name(f.name_string());
      for (char& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      headers_[name] = std::string(f.value());
    }
    done_ = parser_.is_done();
    co_return Status{};
  }

  int status() const override { return static_cast<int>(parser_.get().result_int()); }
  const Headers& headers() const override { return headers_; }
  bool complete() const override { return done_; }
  size_t body_bytes() const override { return bytes_; }

  asio::awaitable<Result<std::string>> next() override {
    std::string out;
    while (!done_ && out.empty()) {
      // One read buffer per response, reused: a fresh zero-filled 16 KiB per read was most of
      // the gateway's per-request page faults (bench/gateway_wrk.sh, docs/performance.md).
      parser_.get().body().data = piece_.data();
      parser_.get().body().size = piece_.size();
      beast::error_code ec;
      conn_->expires_at(deadline_);
      co_await http::async_read_some(*conn_, buffer_, parser_,
                                     asio::redirect_error(use_awaitable, ec));
      if (ec == http::error::need_buffer) ec = {};
      out.assign(piece_.data(), piece_.size() - parser_.get().body().size);
      bytes_ += out.size();
      done_ = parser_.is_done();
      if (ec && !done_) {
        Error e = failure(
            ec == beast::error::timeout ? "timed out mid-body" : "body broken: " + ec.message(),
            ec);
        e.message += " after " + std::to_string(bytes_) + " bytes";
        co_return e;
      }
    }
    co_return out;
  }

 private:
  bool cancelled() const { return canceller_ && canceller_->cancelled(); }
  Error failure(const std::string& what, const beast::error_code& ec) const {
    if (cancelled()) return unavailable(key_, "cancelled");
    if (ec == beast::error::timeout) return unavailable(key_, "timed out waiting for the response");
    return unavailable(key_, what);
  }

  std::shared_ptr<HttpClient::Pool> pool_;
  std::string key_;
  std::unique_ptr<beast::tcp_stream> conn_;
  std::shared_ptr<CallCanceller> canceller_;
  std::chrono::steady_clock::time_point deadline_;
  beast::flat_buffer buffer_;
  http::response_parser<http::buffer_body> parser_;
  Headers headers_;
  std::array<char, 16384> piece_;
  size_t bytes_ = 0;
  bool done_ = false;
};

}  // namespace

asio::awaitable<Result<std::unique_ptr<ResponseStream>>> HttpClient::open(std::string host,
                                                                          uint16_t port,
                                                                          ClientRequest req,
                                                                          CallOptions options) {
  auto pool = pool_;  // the client may go away while this call is suspended
  const std::string key = upstream_key(host, port);
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(options.timeout);
  for (int tries = 0; tries < 2; ++tries) {
    if (options.canceller && options.canceller->cancelled())
      co_return unavailable(key, "cancelled");
    std::unique_ptr<beast::tcp_stream> conn;
    bool reused = false;
    auto& idle = pool->idle[key];
    // Servers close idle keep-alive connections (uvicorn, which serves vLLM, after 5 s): older
    // ones are dropped rather than tried. After a stale one failed, the rest of that upstream's
    // idle connections are as old or older, so the retry opens a fresh connection.
    const auto now = std::chrono::steady_clock::now();
    while (!idle.empty() && (tries > 0 || now - idle.back().since > kMaxIdleAge))
      idle.pop_back();
    if (!idle.empty()) {
      conn = std::move(idle.back().conn);
      idle.pop_back();
      reused = true;
    } else {
      auto c = co_await connect(pool->io, host, port, options.connect_timeout);
      if (!c) co_return c.error();
      conn = std::move(*c);
    }
    auto s = std::make_unique<Stream>(pool, key, std::move(conn), options.canceller, deadline);
    bool retryable = false;
    Status st = co_await s->start(req, reused, retryable);
    if (st) co_return std::unique_ptr<ResponseStream>(std::move(s));
    if (!retryable) co_return st.error();
  }
  co_return unavailable(key, "connection closed before the response");
}

asio::awaitable<Result<ClientResponse>> HttpClient::call(std::string host, uint16_t port,
                                                         ClientRequest req, CallOptions options) {
  auto s = co_await open(std::move(host), port, std::move(req), std::move(options));
  if (!s) co_return s.error();
  ClientResponse out;
  out.status = (*s)->status();
  out.headers = (*s)->headers();
  while (!(*s)->complete()) {
    auto piece = co_await (*s)->next();
    if (!piece) co_return piece.error();
    out.body += *piece;
  }
  co_return out;
}

namespace {

asio::awaitable<void> blocking_call(HttpClient& client, std::string host, uint16_t port,
                                    ClientRequest req, Duration timeout,
                                    Result<ClientResponse>& out) {
  CallOptions o;
  o.timeout = timeout;
  o.connect_timeout = std::min<Duration>(timeout, std::chrono::seconds(5));
  out = co_await client.call(std::move(host), port, std::move(req), o);
}

}  // namespace

Result<ClientResponse> http_call(const std::string& host, uint16_t port, ClientRequest req,
                                 Duration timeout) {
  asio::io_context io(1);
  Result<ClientResponse> out = make_error(ErrorCode::kInternal, "call did not run");
  {
    HttpClient client(io, 0);
    asio::co_spawn(io, blocking_call(client, host, port, std::move(req), timeout, out),
                   asio::detached);
    io.run();
  }
  return out;
}

Result<HostPort> parse_host_port(std::string_view text) {
  std::string_view t = text;
  if (t.substr(0, 7) == "http://") t.remove_prefix(7);
  if (t.substr(0, 8) == "https://") {
    return make_error(ErrorCode::kInvalidArgument,
                      "\"" + std::string(text) + "\": https is not supported; use http://");
  }
  t = t.substr(0, t.find('/'));
  size_t colon = t.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "\"" + std::string(text) + "\" is not host:port (e.g. 127.0.0.1:8080)");
  }
  HostPort hp;
  hp.host = std::string(t.substr(0, colon));
  unsigned v = 0;
  auto p = t.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc() || ptr != p.data() + p.size() || v == 0 || v > 65535) {
    return make_error(ErrorCode::kInvalidArgument,
                      "\"" + std::string(text) + "\": port must be 1-65535");
  }
  hp.port = static_cast<uint16_t>(v);
  return hp;
}

}  // namespace gf::net
