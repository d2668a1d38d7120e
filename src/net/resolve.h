// Host name resolution off the event loop, for an io_context that runs without locks.
//
// getaddrinfo blocks, so lookups run on one thread of their own (one at a time, as asio's
// resolver does) and each answer comes back through a socket pair that the loop waits on like any
// socket. asio's resolver instead completes by posting to the io_context from its thread, which
// needs the scheduler's lock: the gateway runs its io_context with no locking at all
// (BOOST_ASIO_CONCURRENCY_HINT_UNSAFE, a mutex round fewer for every handler), so nothing may
// touch it from another thread.
#pragma once

#include <utility>  // asio 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/units.h"

namespace gf::net {

// The addresses of host:port, IPv4 and IPv6, in getaddrinfo's order. Fails with kUnavailable and
// the reason (getaddrinfo's, or "timed out after 2 s": a lookup that hangs, as one to an
// unreachable DNS server does, is given up after `timeout`).
boost::asio::awaitable<Result<std::vector<boost::asio::ip::tcp::endpoint>>> resolve(
    boost::asio::io_context& io, std::string host, uint16_t port, Duration timeout);

}  // namespace gf::net
