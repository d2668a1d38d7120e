#include "agent/async_prober.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace gf {

AsyncProber::AsyncProber(boost::asio::io_context& io, Duration timeout)
    : io_(io),
      timeout_(timeout),
      client_(std::make_shared<net::HttpClient>(io, 0)) {}  // no pooling: each probe connects

bool AsyncProber::probe(uint16_t port, const std::string& path, uint64_t epoch) {
  auto& t = targets_[{port, path}];
  if (!t) t = std::make_shared<Target>();
  if (t->running) return false;  // unanswered for a whole round: a failure
  const bool result = t->finished && t->ok && t->epoch == epoch;
  t->finished = false;
  t->running = true;
  t->epoch = epoch;
  boost::asio::co_spawn(io_, run(port, path, t, timeout_, client_), boost::asio::detached);
  return result;
}

std::optional<MetricsScrape> AsyncProber::fetch(uint16_t port, const std::string& path,
                                                TimePoint now) {
  auto& t = targets_[{port, path}];
  if (!t) t = std::make_shared<Target>();
  if (t->running) return std::nullopt;
  std::optional<MetricsScrape> result;
  if (t->finished && t->ok) result = MetricsScrape{std::move(t->body), t->asked_at};
  t->body.clear();
  t->finished = false;
  t->running = true;
  t->keep_body = true;
  t->asked_at = now;
  boost::asio::co_spawn(io_, run(port, path, t, timeout_, client_), boost::asio::detached);
  return result;
}

int AsyncProber::in_flight() const {
  int n = 0;
  for (const auto& [key, t] : targets_)
    n += t->running ? 1 : 0;
  return n;
}

boost::asio::awaitable<void> AsyncProber::run(uint16_t port, std::string path,
                                              std::shared_ptr<Target> target, Duration timeout,
                                              std::shared_ptr<net::HttpClient> client) {
  net::ClientRequest req;
  req.target = path;
  net::CallOptions o;
  o.timeout = timeout;
  o.connect_timeout = timeout;
  const std::string host = "127.0.0.1";
  auto res = co_await client->call(host, port, req, o);
  target->ok = res && res->status >= 200 && res->status < 300;
  if (target->ok && target->keep_body) target->body = std::move(res->body);
  target->finished = true;
  target->running = false;
}

}  // namespace gf
