// The shell commands' main loop: run an io_context until SIGINT or SIGTERM, then stop.
#pragma once

#include <utility>  // before asio (Boost 1.74 + GCC 12)

#include <boost/asio/io_context.hpp>
#include <functional>

#include "common/units.h"

namespace gf {

// Runs `io` until SIGINT or SIGTERM; then calls `stop` (servers stop accepting) and stops `io`.
// With `busy_poll` above zero the thread does not sleep until it has found nothing to do for that
// long: it polls the sockets instead, so an event that arrives meanwhile is handled without the
// wake-up of a sleeping core (tens of microseconds on a VM). It costs a core that spins.
void run_until_signal(boost::asio::io_context& io, const std::function<void()>& stop,
                      Duration busy_poll = Duration(0));

}  // namespace gf
