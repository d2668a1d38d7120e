#include "net/http_server.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>

#include "net/http_text.h"
#include "net/request_parser.h"
#include "net/socket_io.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <list>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>
#include <vector>

namespace gf::net {

namespace beast = boost::beast;
namespace http = beast::http;
using asio::use_awaitable;
using asio::ip::tcp;

namespace {

// The shape of the controller's and agent's own errors ({"error":{"code","message"}}), so a
// client reads a refusal by the HTTP layer the same way as one by a handler.
std::string default_error_body(int status, const std::string& message) {
  const char* code = status == 413   ? "PayloadTooLarge"
                     : status == 431 ? "HeaderTooLarge"
                     : status == 400 ? "InvalidArgument"
                     : status == 408 ? "Timeout"
                                     : "Internal";
  return nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump();
}

}  // namespace

namespace {
class Session;
constexpr auto kNever = std::chrono::steady_clock::time_point::max();
// How often deadlines are checked: a timeout fires up to this much late.
constexpr auto kSweepEvery = std::chrono::milliseconds(250);
// Bytes asked of one read. The session keeps its read buffer across requests, so a request
// allocates no read buffer; body bytes go straight from it into the request's body.
constexpr size_t kReadSize = 16384;
// A request body's capacity is kept for the next request on the connection up to this size.
constexpr size_t kKeepBodyCapacity = 64 << 10;
// The header fields a connection keeps for reuse by its next request, at most.
constexpr size_t kKeepHeaderFields = 32;
}  // namespace

struct HttpServer::State {
  State(asio::io_context& io, Handler h, ServerOptions o)
      : io(io),
        acceptor(io),
        sweep(io),
        handler(std::move(h)),
        options(std::move(o)),
        accept_pause(io) {
    if (!options.error_body) options.error_body = default_error_body;
    max_connections =
        options.max_connections != 0 ? options.max_connections : default_max_connections();
  }
  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer sweep;
  std::list<Session*> sessions;  // live connections, for the deadline sweep
  uint64_t sweep_round = 0;      // how many sweeps have run
  Handler handler;
  ServerOptions options;
  bool stopped = false;
  // Connection limits (ServerOptions::max_connections*).
  size_t max_connections = 0;
  std::unordered_map<uint32_t, int> per_client;  // IPv4 address -> connections held
  std::atomic<uint64_t> refused{0};              // read from other threads (tests, metrics)
  bool warned_full = false;                      // logged once per episode, not per refusal
  size_t peak_since_trim = 0;                    // for returning memory after a flood
  asio::steady_timer accept_pause;               // out of descriptors: wait, do not spin
};

namespace {

class Session final : public ResponseWriter, public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<HttpServer::State> st, tcp::socket socket, std::optional<uint32_t> client)
      : st_(std::move(st)), socket_(std::move(socket)), client_(client) {
    registered_ = st_->sessions.insert(st_->sessions.end(), this);
    if (client_) ++st_->per_client[*client_];
  }
  ~Session() override {
    st_->sessions.erase(registered_);
    if (client_) {
      auto it = st_->per_client.find(*client_);
      if (it != st_->per_client.end() && --it->second <= 0) st_->per_client.erase(it);
    }
  }
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

  // Called by the sweep: arms the disconnect watch of a handler that asked for it at least one
  // whole sweep period ago. Most requests end sooner and never pay for the wait (an epoll_ctl
  // call to arm it, and another to cancel it); a client that leaves a long one is still noticed
  // within two sweep periods.
  void arm_watch_if_due(uint64_t round) {
    if (!watch_wanted_ || watching_ || round < watch_round_ + 2) return;
    watch_wanted_ = false;
    watching_ = true;
    uint64_t gen = generation_;
    socket_.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this(), gen](beast::error_code ec) {
                         if (ec || !self->watching_ || gen != self->generation_) return;
                         self->watching_ = false;
                         beast::error_code ec2;
                         // Readable with nothing to read means the peer closed; pipelined
                         // bytes mean it did not.
                         if (self->socket_.available(ec2) == 0) {
                           self->gone_ = true;
                           if (auto f = std::move(self->on_gone_)) f();
                         }
                       });
  }

  // The coroutine's parameter keeps the session alive until it returns: coroutines start lazily,
  // after the caller's own shared_ptr is gone.
  static asio::awaitable<void> run(std::shared_ptr<Session> self) { co_await self->serve(); }

  asio::awaitable<void> serve() {
    beast::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);  // SSE chunks are small: no Nagle delay
    socket_.non_blocking(true, ec);               // for write_now
    const auto& opt = st_->options;
    for (;;) {
      reset_request();
      RequestParser parser(req_, opt.max_header_bytes, opt.max_body_bytes);
      arm(opt.idle_timeout);
      // Parses what the buffer holds (bytes a client pipelined after its previous request come
      // first), reading more while the parser needs it. What follows this request stays.
      bool body_armed = false;
      bool got_some = buffer_.size() > 0;
      for (;;) {
        ec = {};
        if (buffer_.size() > 0) {
          const auto* data = static_cast<const char*>(buffer_.data().data());
          buffer_.consume(parser.put(std::string_view(data, buffer_.size())));
        }
        if (parser.status() != ParseStatus::kNeedMore) break;
        if (!body_armed && parser.header_done()) {
          arm(opt.body_timeout);
          body_armed = true;
        }
        const size_t want = buffer_.size() < kReadSize ? kReadSize - buffer_.size() : kReadSize;
        auto space = buffer_.prepare(want);
        // Right after an answer, the client's next request cannot be here yet: wait a turn.
        const bool after_answer = answered_ && buffer_.size() == 0 && !got_some;
        size_t n = 0;
        if (after_answer)
          n = co_await async_read_after_turn(socket_, space,
                                             asio::redirect_error(use_awaitable, ec));
        else
          n = co_await socket_.async_read_some(space, asio::redirect_error(use_awaitable, ec));
        buffer_.commit(n);
        got_some = got_some || n > 0;
        if (ec == asio::error::eof) {
          ec = {};
          if (!got_some) break;  // the client closed between requests
          parser.put_eof();      // a request cut short
        }
        if (ec) break;
      }
      if (timed_out_) break;  // the sweep closed the connection
      if (parser.status() == ParseStatus::kBodyTooLarge) {
        keep_alive_ = false;
        std::string body = opt.error_body(
            413, "request body is larger than " + std::to_string(opt.max_body_bytes) + " bytes");
        co_await send(413, "application/json", std::move(body), Headers{});
        co_await linger();
        break;
      }
      if (parser.status() == ParseStatus::kHeaderTooLarge) {
        keep_alive_ = false;
        co_await send(431, "application/json",
                      opt.error_body(431, "request headers are too large"));
        break;
      }
      if (parser.status() == ParseStatus::kMalformed || parser.status() == ParseStatus::kPartial) {
        keep_alive_ = false;
        std::string why = parser.status() == ParseStatus::kPartial
                              ? std::string("the connection ended mid-request")
                              : parser.error();
        co_await send(400, "application/json",
                      opt.error_body(400, "malformed HTTP request: " + why));
        break;
      }
      if (!parser.done()) break;  // closed, reset or timed out
      disarm();                   // a handler may take minutes (long generations)
      keep_alive_ = parser.keep_alive();
      version_ = parser.version();
      responded_ = false;
      streaming_ = false;
      ++generation_;
      co_await st_->handler(req_, *this);
      answered_ = true;
      stop_watching();
      on_gone_ = nullptr;
      if (!responded_ && !gone_)
        co_await send(500, "application/json", opt.error_body(500, "no response"));
      // A stream the handler left unended cannot be followed by another response.
      if (streaming_) keep_alive_ = false;
      if (gone_ || !keep_alive_) break;
    }
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    socket_.close(ec);
  }

  asio::awaitable<void> send(int status, std::string content_type, std::string body,
                             Headers extra = {}) override {
    stop_watching();
    responded_ = true;
    write_head(status, content_type, extra, false, body.size());
    // Head and body in one gather write: the body is not copied.
    std::array<asio::const_buffer, 2> out;
    out[0] = asio::buffer(head_);
    out[1] = asio::buffer(body);
    if (size_t sent = 0; !write_at_once(out, sent)) co_await write_rest_in_time(out, sent);
  }

  asio::awaitable<bool> begin_stream(int status, std::string content_type,
                                     Headers extra = {}) override {
    responded_ = true;  // a disconnect watch stays armed through the stream
    streaming_ = true;
    // HTTP/1.0 has no chunked encoding: the body runs to the end of the connection.
    if (version_ == 10) keep_alive_ = false;
    write_head(status, content_type, extra, true, 0);
    const std::array<asio::const_buffer, 1> out{asio::buffer(head_)};
    if (size_t sent = 0; !write_at_once(out, sent)) co_await write_rest_in_time(out, sent);
    co_return !gone_;
  }

  asio::awaitable<bool> write_chunk(std::string_view data) override {
    if (gone_) co_return false;
    if (data.empty()) co_return true;  // an empty chunk would end the stream
    if (version_ == 10) {
      const std::array<asio::const_buffer, 1> raw{asio::buffer(data.data(), data.size())};
      if (size_t sent = 0; !write_at_once(raw, sent)) co_await write_rest_in_time(raw, sent);
    } else {
      // "<size in hex>\r\n", the data and "\r\n" in one gather write.
      char* end = std::to_chars(chunk_head_, chunk_head_ + sizeof chunk_head_ - 2,
                                static_cast<uint64_t>(data.size()), 16)
                      .ptr;
      end[0] = '\r';
      end[1] = '\n';
      std::array<asio::const_buffer, 3> out;
      out[0] = asio::buffer(chunk_head_, static_cast<size_t>(end + 2 - chunk_head_));
      out[1] = asio::buffer(data.data(), data.size());
      out[2] = asio::buffer("\r\n", 2);
      if (size_t sent = 0; !write_at_once(out, sent)) co_await write_rest_in_time(out, sent);
    }
    co_return !gone_;
  }

  asio::awaitable<void> end_stream() override {
    stop_watching();
    if (!streaming_) co_return;
    streaming_ = false;
    if (gone_ || version_ == 10) co_return;  // 1.0: closing the connection ends the body
    // The last chunk, no trailers.
    const std::array<asio::const_buffer, 1> last{asio::const_buffer("0\r\n\r\n", 5)};
    if (size_t sent = 0; !write_at_once(last, sent)) co_await write_rest_in_time(last, sent);
  }

  // A write is two steps, written out at each call site rather than wrapped in a coroutine of
  // its own (a frame and a resume per response):
  //   if (size_t sent = 0; !write_at_once(out, sent)) co_await write_rest_in_time(out, sent);
  // What the socket takes at once goes without a round through the scheduler; the rest goes
  // within the write timeout. A failed write means the client is gone.
  template <size_t N>
  bool write_at_once(const std::array<asio::const_buffer, N>& out, size_t& sent) {
    beast::error_code ec;
    sent = write_now(socket_, out, ec);
    if (ec) gone_ = true;
    return ec || all_sent(out, sent);
  }
  template <size_t N>
  asio::awaitable<void> write_rest_in_time(std::array<asio::const_buffer, N> out, size_t sent) {
    beast::error_code ec;
    arm(st_->options.write_timeout);
    co_await write_rest(socket_, out, sent, ec);
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
    if (gone_) {
      if (auto f = std::move(on_gone_)) f();
      return;
    }
    if (watching_ || watch_wanted_) return;  // the watch calls the new callback
    // Armed by the sweep once this has lasted a sweep period: see arm_watch_if_due().
    watch_wanted_ = true;
    watch_round_ = st_->sweep_round;
  }

 private:
  // Makes req_ ready for the next request, keeping its strings' capacity and its header nodes.
  void reset_request() {
    req_.method.clear();
    req_.target.clear();
    req_.path.clear();
    if (req_.body.capacity() > kKeepBodyCapacity)
      req_.body = std::string();
    else
      req_.body.clear();
    // Header strings are kept for the next request, unless a request brought unusually many.
    if (req_.headers.size() > kKeepHeaderFields)
      req_.headers = Headers();
    else
      req_.headers.clear();
  }

  // The response head, written into head_ (its capacity is kept with the connection). Framing
  // and Connection are the server's; a Content-Type, Server or Cache-Control in `extra` replaces
  // the server's own, as it did when Beast's fields built the head.
  void write_head(int status, std::string_view content_type, const Headers& extra, bool stream,
                  size_t content_length) {
    bool own_type = true, own_server = true, own_cache = stream;
    for (const auto& [k, v] : extra) {
      if (!valid_header(k, v)) continue;
      if (beast::iequals(k, "content-type"))
        own_type = false;
      else if (beast::iequals(k, "server"))
        own_server = false;
      else if (beast::iequals(k, "cache-control"))
        own_cache = false;
    }
    std::string& out = head_;
    out.clear();
    if (version_ == 10)
      put(out, "HTTP/1.0 ");
    else
      put(out, "HTTP/1.1 ");
    append_number(out, static_cast<uint64_t>(status));
    out += ' ';
    const auto reason = http::obsolete_reason(static_cast<http::status>(status));
    out.append(reason.data(), reason.size());
    put(out, "\r\n");
    if (own_server) put(out, "Server: gpufleet\r\n");
    if (own_type && !has_crlf(content_type)) {
      put(out, "Content-Type: ");
      out += content_type;
      put(out, "\r\n");
    }
    if (own_cache) put(out, "Cache-Control: no-cache\r\n");
    for (const auto& [k, v] : extra) {
      if (!valid_header(k, v) || beast::iequals(k, "content-length") ||
          beast::iequals(k, "transfer-encoding") || beast::iequals(k, "connection"))
        continue;
      out += k;
      put(out, ": ");
      out += v;
      put(out, "\r\n");
    }
    if (!keep_alive_)
      put(out, "Connection: close\r\n");
    else if (version_ == 10)
      put(out, "Connection: keep-alive\r\n");
    if (!stream) {
      put(out, "Content-Length: ");
      append_number(out, content_length);
      put(out, "\r\n");
    } else if (version_ != 10) {
      put(out, "Transfer-Encoding: chunked\r\n");
    }
    put(out, "\r\n");
  }

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
    watch_wanted_ = false;
    if (!watching_) return;
    watching_ = false;
    beast::error_code ec;
    socket_.cancel(ec);
  }

  std::shared_ptr<HttpServer::State> st_;
  tcp::socket socket_;
  std::optional<uint32_t> client_;  // counted in per_client (IPv4 peers)
  // When the operation in progress times out (max: none); the server's sweep closes the socket
  // then. One store per operation instead of a timer armed and cancelled per operation.
  std::chrono::steady_clock::time_point deadline_ = kNever;
  bool timed_out_ = false;
  std::list<Session*>::iterator registered_;
  // Kept across the connection's requests: the read buffer, the request (its strings' capacity),
  // header nodes for the next request, and the buffers response heads are written into.
  beast::flat_buffer buffer_;
  HttpRequest req_;
  std::string head_;
  bool answered_ = false;  // a response went out on this connection
  char chunk_head_[20];
  bool keep_alive_ = true;
  unsigned version_ = 11;
  bool responded_ = false;
  bool streaming_ = false;  // begun, not ended
  bool gone_ = false;
  bool watching_ = false;      // the disconnect wait is armed
  bool watch_wanted_ = false;  // asked for, to be armed by the sweep
  uint64_t watch_round_ = 0;   // the sweep round it was asked for in
  uint64_t generation_ = 0;
  std::function<void()> on_gone_;
};

asio::awaitable<void> sweep_loop(std::shared_ptr<HttpServer::State> st) {
  while (!st->stopped) {
    st->sweep.expires_after(kSweepEvery);
    beast::error_code ec;
    co_await st->sweep.async_wait(asio::redirect_error(use_awaitable, ec));
    const auto now = std::chrono::steady_clock::now();
    const uint64_t round = ++st->sweep_round;
    // After a flood the connections' buffers go back to malloc, which keeps them; give them
    // back to the system once most are gone (#17, defect 10: 100 MB grew to 239 MB and stayed).
    st->peak_since_trim = std::max(st->peak_since_trim, st->sessions.size());
    if (st->peak_since_trim >= 1000 && st->sessions.size() * 4 < st->peak_since_trim) {
      ::malloc_trim(0);
      st->peak_since_trim = st->sessions.size();
    }
    for (auto it = st->sessions.begin(); it != st->sessions.end();) {
      Session* s = *it++;  // closing may not free it now, but keep the walk safe anyway
      s->expire_if_due(now);
      s->arm_watch_if_due(round);
    }
  }
}

// Answers a connection the server will not take with `status` and closes it. One non-blocking
// write of a few hundred bytes into a fresh socket's empty send buffer: it does not wait.
void refuse(HttpServer::State& st, tcp::socket& socket, int status, const std::string& why) {
  ++st.refused;
  const std::string body = st.options.error_body(status, why);
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                    std::string(http::obsolete_reason(static_cast<http::status>(status))) +
                    "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  beast::error_code ec;
  socket.non_blocking(true, ec);
  socket.write_some(asio::buffer(out), ec);
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

asio::awaitable<void> accept_loop(std::shared_ptr<HttpServer::State> st) {
  for (;;) {
    beast::error_code ec;
    tcp::socket socket =
        co_await st->acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
    if (st->stopped) co_return;
    if (ec == asio::error::no_descriptors || ec.value() == ENFILE) {
      // Out of descriptors: the pending connection stays in the backlog and accepting again at
      // once fails again, at 100% CPU. Pause; existing connections go on and free some.
      if (!st->warned_full) {
        std::fprintf(stderr,
                     "gpufleet: out of file descriptors with %zu connections open; "
                     "pausing accept\n",
                     st->sessions.size());
        st->warned_full = true;
      }
      st->accept_pause.expires_after(std::chrono::milliseconds(100));
      co_await st->accept_pause.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    if (ec) continue;  // the peer went away before we took it
    // The peer's address only matters with a per-client cap: without one, no getpeername per
    // accept and no map to keep.
    std::optional<uint32_t> client;
    if (st->options.max_connections_per_client != 0) {
      beast::error_code peer_ec;
      const tcp::endpoint peer = socket.remote_endpoint(peer_ec);
      if (!peer_ec && peer.address().is_v4()) client = peer.address().to_v4().to_uint();
    }
    if (st->sessions.size() >= st->max_connections) {
      if (!st->warned_full) {
        std::fprintf(stderr, "gpufleet: at the limit of %zu connections; refusing new ones\n",
                     st->max_connections);
        st->warned_full = true;
      }
      refuse(*st, socket, 503,
             "the server holds " + std::to_string(st->sessions.size()) +
                 " connections, its limit; retry later");
      continue;
    }
    const size_t per_client_cap = st->options.max_connections_per_client;
    if (per_client_cap != 0 && client) {
      auto it = st->per_client.find(*client);
      if (it != st->per_client.end() && static_cast<size_t>(it->second) >= per_client_cap) {
        refuse(*st, socket, 429,
               "this client address holds " + std::to_string(it->second) +
                   " connections, the limit per client");
        continue;
      }
    }
    if (st->sessions.size() < st->max_connections * 9 / 10) st->warned_full = false;
    auto session = std::make_shared<Session>(st, std::move(socket), client);
    asio::co_spawn(st->io, Session::run(std::move(session)), asio::detached);
  }
}

}  // namespace

HttpServer::HttpServer(asio::io_context& io, const std::string& host, uint16_t port,
                       Handler handler, ServerOptions options)
    : state_(std::make_shared<State>(io, std::move(handler), std::move(options))) {
  tcp::endpoint ep(asio::ip::make_address(host), port);
  state_->acceptor.open(ep.protocol());
  // Asio opens sockets without SOCK_CLOEXEC: a process this one starts must not inherit the
  // listening port (#17, defect 2; children also close what they inherit before exec).
  ::fcntl(state_->acceptor.native_handle(), F_SETFD, FD_CLOEXEC);
  state_->acceptor.set_option(asio::socket_base::reuse_address(true));
  state_->acceptor.bind(ep);
  // As long a queue of not-yet-accepted connections as the kernel allows (net.core.somaxconn
  // caps it): SOMAXCONN (4096) dropped connects when 10,000 agents registered at once (#18).
  state_->acceptor.listen(65535);
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

uint64_t HttpServer::refused_connections() const {
  return state_->refused;
}

size_t default_max_connections() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return 65536;
  const size_t n = static_cast<size_t>(lim.rlim_cur);
  const size_t reserve = std::max<size_t>(64, n / 4);
  return n > reserve ? n - reserve : 1;
}

void HttpServer::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  beast::error_code ec;
  state_->acceptor.close(ec);
  state_->sweep.cancel();
  state_->accept_pause.cancel();
}

}  // namespace gf::net
