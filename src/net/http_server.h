// A small HTTP/1.1 server on Boost.Asio with C++20 coroutines (Beast's parser reads requests):
// keep-alive and pipelining, body and header limits, idle timeouts, and streamed (chunked)
// responses for Server-Sent Events; HTTP/1.0 clients get a stream as a body that ends with the
// connection. One io_context thread runs every connection, so handlers need no locks.
#pragma once

#include <utility>  // before asio: Boost 1.74's awaitable.hpp needs std::exchange (GCC 12)

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "net/http_request.h"

namespace gf::net {

namespace asio = boost::asio;

// How a handler answers: one whole response, or a stream of chunks.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual asio::awaitable<void> send(int status, std::string content_type, std::string body,
                                     Headers extra = {}) = 0;
  virtual asio::awaitable<bool> begin_stream(int status, std::string content_type,
                                             Headers extra = {}) = 0;
  // False once the client has gone; the handler should stop work for it.
  virtual asio::awaitable<bool> write_chunk(std::string_view data) = 0;
  virtual asio::awaitable<void> end_stream() = 0;
  // Calls `on_gone` if the client closes the connection while the handler is still working: before
  // the response, and during a stream between chunks (a client that leaves while the upstream is
  // silent, e.g. queued in the engine, is noticed within half a second, not at the next chunk); at
  // once if the client is known to be gone already. Stays armed until send(), end_stream(), the end
  // of the request, or watch_disconnect(nullptr). Cheap to ask for: the socket is only watched
  // once the request has lasted a quarter of a second, so short requests never pay for it.
  virtual void watch_disconnect(std::function<void()> on_gone) = 0;
};

using Handler = std::function<asio::awaitable<void>(HttpRequest&, ResponseWriter&)>;
// Body of the error responses the server itself sends (413, 431, 400).
using ErrorBody = std::function<std::string(int status, const std::string& message)>;

struct ServerOptions {
  size_t max_body_bytes = 8 << 20;
  size_t max_header_bytes = 16 << 10;
  std::chrono::seconds idle_timeout{60};  // waiting for a request's head on a kept-alive connection
  // Reading a request's body once its head arrived: a client that trickles it (slowloris) is cut.
  std::chrono::seconds body_timeout{30};
  // One write of a response or chunk: a client that stops reading is treated as gone, so a slow
  // reader cannot pin the handler (and its upstream request) for ever.
  std::chrono::seconds write_timeout{30};
  ErrorBody error_body;  // default: {"error":{"code":...,"message":...}}
  // Connections held at once. Past it a new connection is answered 503 and closed at once, rather
  // than accepted until the descriptors run out (#17, defect 10: at the limit the gateway spun at
  // 100% CPU and new connections hung). 0: the descriptor limit less a quarter (at least 64),
  // kept for upstream connections, files and the store.
  size_t max_connections = 0;
  // Connections one client address may hold at once; past it, 429 and closed. 0: no cap.
  size_t max_connections_per_client = 0;
};

// What max_connections = 0 means for this process: RLIMIT_NOFILE less max(64, a quarter).
size_t default_max_connections();

class HttpServer {
 public:
  // Binds now (port 0 = any free port) so the caller can print the port before running.
  HttpServer(asio::io_context& io, const std::string& host, uint16_t port, Handler handler,
             ServerOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;
  void start();  // accepts on the io_context
  void stop();   // stops accepting; open connections finish
  // Connections refused at a limit (max_connections or max_connections_per_client) so far.
  uint64_t refused_connections() const;

  struct State;  // shared with the connections, which may outlive the server object

 private:
  std::shared_ptr<State> state_;
};

}  // namespace gf::net
