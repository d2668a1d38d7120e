// The shell commands' main loop: run an io_context until SIGINT or SIGTERM, then stop.
#pragma once

#include <utility>  // before asio (Boost 1.74 + GCC 12)

#include <boost/asio/io_context.hpp>
#include <functional>

namespace gf {

// Runs `io` until SIGINT or SIGTERM; then calls `stop` (servers stop accepting) and stops `io`.
void run_until_signal(boost::asio::io_context& io, const std::function<void()>& stop);

}  // namespace gf
