// Name resolution off the event loop, on an io_context with no locking at all (as the gateway
// runs it): the answer must come back through the loop, not be posted from the lookup thread.
#include "net/resolve.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <optional>

namespace gf::net {
namespace {

namespace asio = boost::asio;
using Endpoints = std::vector<asio::ip::tcp::endpoint>;

asio::awaitable<void> lookup(asio::io_context& io, std::string host, uint16_t port,
                             std::optional<Result<Endpoints>>& out) {
  const Duration limit = std::chrono::seconds(10);
  out = co_await resolve(io, std::move(host), port, limit);
}

Result<Endpoints> resolve_on_unlocked_loop(const std::string& host, uint16_t port) {
  asio::io_context io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE);
  std::optional<Result<Endpoints>> out;
  asio::co_spawn(io, lookup(io, host, port, out), asio::detached);
  io.run();  // returns once the lookup's answer came back and nothing is left to do
  EXPECT_TRUE(out.has_value());
  return out ? std::move(*out) : Result<Endpoints>(make_error(ErrorCode::kInternal, "no answer"));
}

TEST(Resolve, FindsLocalhostWithThePortGiven) {
  auto r = resolve_on_unlocked_loop("localhost", 8123);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_FALSE(r->empty());
  for (const auto& e : *r) {
    EXPECT_EQ(e.port(), 8123);
    EXPECT_TRUE(e.address().is_loopback()) << e.address().to_string();
  }
}

TEST(Resolve, AnUnknownNameFailsNamingIt) {
  // .invalid never resolves (RFC 2606).
  auto r = resolve_on_unlocked_loop("no-such-host.invalid", 80);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("cannot resolve no-such-host.invalid"), std::string::npos)
      << r.error().message;
}

TEST(Resolve, ManyLookupsAtOnceAllAnswer) {
  asio::io_context io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE);
  std::vector<std::optional<Result<Endpoints>>> out(16);
  for (size_t i = 0; i < out.size(); ++i)
    asio::co_spawn(io, lookup(io, "localhost", static_cast<uint16_t>(9000 + i), out[i]),
                   asio::detached);
  io.run();
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_TRUE(out[i].has_value()) << i;
    ASSERT_TRUE(out[i]->ok()) << out[i]->error().message;
    EXPECT_EQ(out[i]->value().front().port(), 9000 + i);
  }
}

}  // namespace
}  // namespace gf::net
