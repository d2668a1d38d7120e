// An HTTP/1.1 client on Boost.Beast with C++20 coroutines: kept-alive connections per upstream,
// timeouts, cancellation, and streamed response bodies passed on piece by piece as they arrive
// (the gateway forwards SSE without buffering). Plus a blocking call for the CLI and tests.
#pragma once

#include <utility>  // before asio: Boost 1.74's awaitable.hpp needs std::exchange (GCC 12)

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/units.h"
#include "net/http_server.h"

namespace gf::net {

struct ClientRequest {
  std::string method = "GET";
  std::string target = "/";
  std::string body;
  Headers headers;  // Host, Content-Length and Connection are set by the client
};

struct ClientResponse {
  int status = 0;
  Headers headers;  // names lowercased
  std::string body;

  std::string header(const std::string& lowercase_name) const {
    auto it = headers.find(lowercase_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Lets another coroutine abort a call in flight (a client that went away): cancel() closes the
// upstream connection, and the call returns kUnavailable "cancelled".
class CallCanceller {
 public:
  void cancel() {
    cancelled_ = true;
    if (hook_) hook_();
  }
  bool cancelled() const { return cancelled_; }
  void set_hook(std::function<void()> hook) { hook_ = std::move(hook); }

 private:
  bool cancelled_ = false;
  std::function<void()> hook_;
};

struct CallOptions {
  Duration connect_timeout = std::chrono::seconds(2);
  Duration timeout = std::chrono::seconds(30);  // whole call: headers and body
  std::shared_ptr<CallCanceller> canceller;
};

// A response whose head has arrived; the body is pulled piece by piece as it arrives. Dropping
// it before the end closes the connection; after a complete body the connection is kept for reuse.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  virtual int status() const = 0;
  virtual const Headers& headers() const = 0;  // names lowercased
  // The next piece of body as it arrived; an empty string at the end of the body. An error when
  // the body broke off (kUnavailable: reset, timeout, cancelled), naming the bytes received.
  virtual asio::awaitable<Result<std::string>> next() = 0;
  // The body that has arrived and is not yet handed out, without waiting (often all of it: the
  // read that brings a head brings a short body along). Saves next()'s round for such bodies.
  virtual std::string take_ready() = 0;
  virtual bool complete() const = 0;
  virtual size_t body_bytes() const = 0;
};

// Connections are kept per "host:port" and reused; all calls run on one io_context thread.
class HttpClient {
 public:
  explicit HttpClient(asio::io_context& io, size_t max_idle_per_upstream = 64);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends the request and waits for the response head. An error here means no byte of a
  // response was seen, so the caller may retry elsewhere. A kept-alive connection that turns out
  // closed is retried once on a fresh one. `req` is read until the head arrives: it must outlive
  // the awaited call (a caller that retries sends the same request again, copied nowhere).
  asio::awaitable<Result<std::unique_ptr<ResponseStream>>> open(std::string host, uint16_t port,
                                                                const ClientRequest& req,
                                                                CallOptions options = {});

  // The whole response in memory. Fails (kUnavailable) on connect errors, timeouts and
  // cancellation, with a message naming the upstream.
  asio::awaitable<Result<ClientResponse>> call(std::string host, uint16_t port, ClientRequest req,
                                               CallOptions options = {});

  size_t idle_connections() const;

  struct Pool;

 private:
  std::shared_ptr<Pool> pool_;
};

// A blocking call on a private io_context, for the CLI and tests.
Result<ClientResponse> http_call(const std::string& host, uint16_t port, ClientRequest req,
                                 Duration timeout = std::chrono::seconds(10));

// "host:port" or "http://host:port[/...]" → host and port, with a clear error.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
Result<HostPort> parse_host_port(std::string_view text);

}  // namespace gf::net
