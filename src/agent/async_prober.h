// Readiness and liveness probes that never block the agent's loop: ReplicaRunner asks
// synchronously (probe(port, path) -> bool), and this answers from the last probe that finished
// while the next one runs on the io_context. A probe still unanswered when asked again counts as
// a failure, so a hung engine fails one probe per round without holding the loop, where a
// blocking GET held it for its whole timeout.
#pragma once

#include <utility>  // before asio (Boost 1.74 + GCC 12)

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "agent/engine_load.h"
#include "common/units.h"
#include "net/http_client.h"

namespace gf {

class AsyncProber {
 public:
  AsyncProber(boost::asio::io_context& io, Duration timeout);

  // The result of the probe of `path` on 127.0.0.1:port that finished since the last call (false
  // if none has finished yet, or it is still running), and starts the next one. `epoch` names
  // the engine process being asked about (ReplicaRunner gives each start its own): a result
  // from a probe started for another epoch is never returned, so an engine restarted on the
  // same port is not Ready on the word of the process before it (#17, defect 4).
  bool probe(uint16_t port, const std::string& path, uint64_t epoch = 0);

  // The same for a GET whose answer matters (an engine's metrics): the 2xx body of the one that
  // finished since the last call, with the `now` that call passed when it started it, so the
  // caller knows how fresh the text is; nullopt if none finished or it failed. Starts the next.
  std::optional<MetricsScrape> fetch(uint16_t port, const std::string& path, TimePoint now);

  // Probes running now (for tests and metrics).
  int in_flight() const;

 private:
  struct Target {
    bool running = false;
    bool finished = false;  // a result arrived since the last probe() call
    bool ok = false;
    uint64_t epoch = 0;  // of the probe running, or of the one that finished
    std::string body;    // kept only for fetch()
    bool keep_body = false;
    TimePoint asked_at{};  // the `now` of the fetch() call that started the one running or done
  };
  // Owns what it touches, so it may outlive the prober.
  static boost::asio::awaitable<void> run(uint16_t port, std::string path,
                                          std::shared_ptr<Target> target, Duration timeout,
                                          std::shared_ptr<net::HttpClient> client);

  boost::asio::io_context& io_;
  Duration timeout_;
  std::shared_ptr<net::HttpClient> client_;
  std::map<std::pair<uint16_t, std::string>, std::shared_ptr<Target>> targets_;
};

}  // namespace gf
