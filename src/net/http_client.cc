#include "net/http_client.h"

#include "net/http_text.h"
#include "net/resolve.h"
#include "net/response_parser.h"
#include "net/socket_io.h"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <limits>
#include <vector>

namespace gf::net {

namespace beast = boost::beast;
namespace http = beast::http;
using asio::use_awaitable;
using asio::ip::tcp;

namespace {
constexpr auto kMaxIdleAge = std::chrono::seconds(4);
// Bytes asked of one read. The connection keeps its read buffer this size across requests, so
// a request allocates no read buffer; pieces of body go straight from it into the string
// next() returns.
constexpr size_t kReadSize = 16384;
}  // namespace

// One upstream connection with what it keeps between requests: its read buffer, the buffer the
// request head is written into, and one timer for the whole call's deadline (armed once per
// call, where a beast::tcp_stream armed and cancelled one for every read and write).
struct UpstreamConnection {
  explicit UpstreamConnection(asio::io_context& io) : socket(io), timer(io) {}
  tcp::socket socket;
  asio::steady_timer timer;
  beast::flat_buffer buffer;
  std::string head;
  Headers spare_headers;    // the last response's, its strings kept for the next one
  uint64_t generation = 0;  // which call the armed timer belongs to
  bool timed_out = false;
};

struct HttpClient::Pool {
  Pool(asio::io_context& io_context, size_t max_idle_per_upstream)
      : io(io_context), max_idle(max_idle_per_upstream) {}
  asio::io_context& io;
  size_t max_idle;
  struct Idle {
    std::shared_ptr<UpstreamConnection> conn;
    std::chrono::steady_clock::time_point since;
  };
  using Slot = std::pair<const std::string, std::vector<Idle>>;  // "host:port" and its idle
  std::map<std::string, std::vector<Idle>> idle;
  // The last upstream looked up: most calls go to the same few, and this skips building the
  // "host:port" key and the map lookup.
  std::string last_host;
  uint16_t last_port = 0;
  Slot* last_slot = nullptr;

  Slot& slot(const std::string& host, uint16_t port) {
    if (last_slot != nullptr && port == last_port && host == last_host) return *last_slot;
    auto it = idle.try_emplace(host + ":" + std::to_string(port)).first;
    last_host = host;
    last_port = port;
    last_slot = &*it;
    return *it;
  }
};

HttpClient::HttpClient(asio::io_context& io, size_t max_idle_per_upstream)
    : pool_(std::make_shared<Pool>(io, max_idle_per_upstream)) {}

HttpClient::~HttpClient() = default;

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
asio::awaitable<Result<std::shared_ptr<UpstreamConnection>>> connect(asio::io_context& io,
                                                                     std::string host,
                                                                     uint16_t port,
                                                                     Duration timeout) {
  beast::tcp_stream s(io);
  beast::error_code ec;
  std::vector<tcp::endpoint> endpoints;
  auto addr = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (!ec) {
    endpoints.emplace_back(addr, port);
  } else {
    auto found = co_await resolve(io, host, port, timeout);
    if (!found) co_return unavailable(upstream_key(host, port), found.error().message);
    endpoints = std::move(*found);
  }
  s.expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
  co_await s.async_connect(endpoints, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    co_return unavailable(upstream_key(host, port),
                          ec == beast::error::timeout ? "connect timed out" : ec.message());
  }
  s.socket().set_option(tcp::no_delay(true), ec);
  auto c = std::make_shared<UpstreamConnection>(io);
  c->socket = s.release_socket();
  c->socket.non_blocking(true, ec);  // for write_now
  co_return c;
}

// The request head, written into `out` (its capacity is kept with the connection). Host,
// Content-Length and Connection are the client's, except that a Host given by the caller wins,
// as it did when Beast's fields built the head.
Status write_head(const ClientRequest& in, http::verb verb, const std::string& key,
                  std::string& out) {
  out.clear();
  out += in.method;
  out += ' ';
  out += in.target;
  put(out, " HTTP/1.1\r\n");
  bool host_given = false;
  for (const auto& [k, v] : in.headers) {
    if (!valid_header(k, v))
      return make_error(ErrorCode::kInvalidArgument, "bad header \"" + k + "\"");
    if (beast::iequals(k, "content-length") || beast::iequals(k, "connection") ||
        beast::iequals(k, "transfer-encoding"))
      continue;
    if (beast::iequals(k, "host")) host_given = true;
    out += k;
    put(out, ": ");
    out += v;
    put(out, "\r\n");
  }
  if (!host_given) {
    put(out, "Host: ");
    out += key;
    put(out, "\r\n");
  }
  if (!in.body.empty() || verb == http::verb::post || verb == http::verb::put) {
    put(out, "Content-Length: ");
    append_number(out, in.body.size());
    put(out, "\r\n");
  }
  put(out, "\r\n");
  return {};
}

class Stream final : public ResponseStream {
 public:
  Stream(std::shared_ptr<HttpClient::Pool> pool, HttpClient::Pool::Slot& slot,
         std::shared_ptr<UpstreamConnection> conn, std::shared_ptr<CallCanceller> canceller,
         std::chrono::steady_clock::time_point deadline)
      : pool_(std::move(pool)),
        slot_(slot),
        conn_(std::move(conn)),
        canceller_(std::move(canceller)),
        headers_(std::move(conn_->spare_headers)),
        parser_(headers_, pending_) {
    headers_.clear();
    if (canceller_) {
      UpstreamConnection* raw = conn_.get();
      canceller_->set_hook([raw] {
        beast::error_code ec;
        raw->socket.close(ec);
      });
    }
    // One deadline for the whole call: when it passes, the socket is closed and whatever read or
    // write is pending fails. The handler holds the connection weakly and checks the generation,
    // so a late expiry can touch neither a freed connection nor a later call on a reused one.
    UpstreamConnection& c = *conn_;
    c.timed_out = false;
    const uint64_t generation = ++c.generation;
    c.timer.expires_at(deadline);
    c.timer.async_wait(
        [weak = std::weak_ptr<UpstreamConnection>(conn_), generation](const beast::error_code& ec) {
          if (ec) return;
          auto c = weak.lock();
          if (!c || c->generation != generation) return;
          c->timed_out = true;
          beast::error_code ignored;
          c->socket.close(ignored);
        });
  }
  ~Stream() override {
    if (canceller_) canceller_->set_hook(nullptr);
    ++conn_->generation;  // a timer expiry already queued no longer applies
    conn_->timer.cancel();
    conn_->spare_headers = std::move(headers_);
    // A complete body leaves the connection ready for the next request.
    if (done_ && parser_.keep_alive() && pool_->max_idle > 0 && conn_->socket.is_open() &&
        conn_->buffer.size() == 0) {
      auto& idle = slot_.second;
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
    if (verb == http::verb::head) parser_.no_body();
    if (Status st = write_head(in, verb, slot_.first, conn_->head); !st) co_return st;
    // Head and body in one gather write: the body is not copied.
    std::array<asio::const_buffer, 2> out;
    out[0] = asio::buffer(conn_->head);
    out[1] = asio::buffer(in.body);
    const size_t sent = write_now(conn_->socket, out, ec);
    if (!ec && !all_sent(out, sent)) co_await write_rest(conn_->socket, out, sent, ec);
    if (ec) {
      retryable = reused && !cancelled() && !conn_->timed_out;
      co_return failure("sending the request failed: " + ec.message());
    }
    // The first read cannot find the response yet: it waits a turn of the event loop.
    bool first = true;
    while (!parser_.header_done()) {
      if (!parse_first(ec)) {
        auto space = read_space();
        size_t n = 0;
        if (first)
          n = co_await async_read_after_turn(conn_->socket, space,
                                             asio::redirect_error(use_awaitable, ec));
        else
          n = co_await conn_->socket.async_read_some(space,
                                                     asio::redirect_error(use_awaitable, ec));
        first = false;
        after_read(n, ec);
      }
      if (ec) {
        retryable = reused && !cancelled() && !conn_->timed_out &&
                    (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                     ec == asio::error::eof || ec == asio::error::broken_pipe);
        co_return failure("no response: " + describe(ec));
      }
    }
    done_ = parser_.done();
    co_return Status{};
  }

  int status() const override { return parser_.code(); }
  const Headers& headers() const override { return headers_; }
  // The whole body parsed and handed out (with eager parsing, the head's read often brings the
  // whole body along: it waits in pending_ for next()).
  bool complete() const override { return done_ && pending_.empty(); }
  size_t body_bytes() const override { return bytes_; }

  std::string take_ready() override {
    std::string out = std::move(pending_);
    pending_.clear();
    bytes_ += out.size();
    return out;
  }

  asio::awaitable<Result<std::string>> next() override {
    while (!done_ && pending_.empty()) {
      beast::error_code ec;
      if (!parse_first(ec)) {
        auto space = read_space();
        const size_t n =
            co_await conn_->socket.async_read_some(space, asio::redirect_error(use_awaitable, ec));
        after_read(n, ec);
      }
      done_ = parser_.done();
      if (ec && !done_) {
        bytes_ += pending_.size();
        pending_.clear();
        Error e = failure(conn_->timed_out ? "timed out mid-body" : "body broken: " + describe(ec));
        e.message += " after " + std::to_string(bytes_) + " bytes";
        co_return e;
      }
    }
    co_return take_ready();
  }

  Headers take_headers() { return std::move(headers_); }

 private:
  // A read is two plain steps around the socket's async_read_some, written out at each call
  // site rather than wrapped in a coroutine of its own (a frame and a resume per response):
  // parse_first() parses what the buffer already holds and says whether that got the parser
  // anywhere; if not, read into read_space() and hand the count to after_read().
  bool parse_first(beast::error_code& ec) {
    ec = {};
    if (conn_->buffer.size() == 0) return false;
    received_ = true;
    parse_buffered(ec);
    return ec || progressed_;
  }
  asio::mutable_buffer read_space() {
    auto& b = conn_->buffer;
    return b.prepare(b.size() < kReadSize ? kReadSize - b.size() : kReadSize);
  }
  // A clean close ends a body that runs to the end of the stream.
  void after_read(size_t n, beast::error_code& ec) {
    conn_->buffer.commit(n);
    received_ = received_ || n > 0;
    if (ec == asio::error::eof) {
      if (!received_) {
        ec = http::error::end_of_stream;
        return;
      }
      ec = {};
      parser_.put_eof();
      if (parser_.status() == ParseStatus::kPartial) ec = http::error::partial_message;
      return;
    }
    if (!ec) parse_buffered(ec);
  }

  // Feeds the buffer to the parser. progressed_ tells whether it got anywhere (a header done, or
  // body bytes, or the end); without that, the caller reads more.
  void parse_buffered(beast::error_code& ec) {
    auto& b = conn_->buffer;
    const bool header_was_done = parser_.header_done();
    const size_t pending_before = pending_.size();
    const auto* data = static_cast<const char*>(b.data().data());
    b.consume(parser_.put(std::string_view(data, b.size())));
    const ParseStatus st = parser_.status();
    if (st != ParseStatus::kNeedMore && st != ParseStatus::kDone)
      ec = asio::error::invalid_argument;  // describe() says what was wrong
    progressed_ = parser_.done() || pending_.size() != pending_before ||
                  parser_.header_done() != header_was_done;
  }

  // What went wrong, in words: the parser's reason for a response it refused.
  std::string describe(const beast::error_code& ec) const {
    switch (parser_.status()) {
      case ParseStatus::kMalformed:
        return "bad response: " + parser_.error();
      case ParseStatus::kHeaderTooLarge:
        return "bad response: head too large";
      default:
        return ec.message();
    }
  }

  bool cancelled() const { return canceller_ && canceller_->cancelled(); }
  Error failure(const std::string& what) const {
    if (cancelled()) return unavailable(slot_.first, "cancelled");
    if (conn_->timed_out) return unavailable(slot_.first, "timed out waiting for the response");
    return unavailable(slot_.first, what);
  }

  std::shared_ptr<HttpClient::Pool> pool_;
  HttpClient::Pool::Slot& slot_;  // the pool's entry for this upstream (map nodes do not move)
  std::shared_ptr<UpstreamConnection> conn_;
  std::shared_ptr<CallCanceller> canceller_;
  Headers headers_;
  std::string pending_;  // body parsed but not yet handed out
  ResponseParser parser_;
  size_t bytes_ = 0;
  bool received_ = false;  // some of the response arrived
  bool done_ = false;      // the parser has the whole response
  bool progressed_ = false;
};

// open() and call(). open() hands this coroutine straight to its caller instead of awaiting it in
// a frame of its own, so all but the request are taken by value.
asio::awaitable<Result<std::unique_ptr<ResponseStream>>> open_stream(
    std::shared_ptr<HttpClient::Pool> pool, std::string host, uint16_t port,
    const ClientRequest& req, CallOptions options) {
  auto& slot = pool->slot(host, port);
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(options.timeout);
  for (int tries = 0; tries < 2; ++tries) {
    if (options.canceller && options.canceller->cancelled())
      co_return unavailable(slot.first, "cancelled");
    std::shared_ptr<UpstreamConnection> conn;
    bool reused = false;
    auto& idle = slot.second;
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
    auto s = std::make_unique<Stream>(pool, slot, std::move(conn), options.canceller, deadline);
    bool retryable = false;
    Status st = co_await s->start(req, reused, retryable);
    if (st) co_return std::unique_ptr<ResponseStream>(std::move(s));
    if (!retryable) co_return st.error();
  }
  co_return unavailable(slot.first, "connection closed before the response");
}

}  // namespace

asio::awaitable<Result<std::unique_ptr<ResponseStream>>> HttpClient::open(std::string host,
                                                                          uint16_t port,
                                                                          const ClientRequest& req,
                                                                          CallOptions options) {
  // The pool is shared: the client may go away while the call is suspended.
  return open_stream(pool_, std::move(host), port, req, std::move(options));
}

asio::awaitable<Result<ClientResponse>> HttpClient::call(std::string host, uint16_t port,
                                                         ClientRequest req, CallOptions options) {
  auto s = co_await open_stream(pool_, std::move(host), port, req, std::move(options));
  if (!s) co_return s.error();
  auto& stream = static_cast<Stream&>(**s);  // open_stream makes only these
  ClientResponse out;
  out.status = stream.status();
  out.headers = stream.take_headers();
  out.body = stream.take_ready();
  while (!stream.complete()) {
    auto piece = co_await stream.next();
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
