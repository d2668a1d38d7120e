#include "cli/run_until_signal.h"

#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <csignal>

namespace gf {

void run_until_signal(boost::asio::io_context& io, const std::function<void()>& stop,
                      Duration busy_poll) {
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    stop();
    io.stop();
  });
  if (busy_poll <= Duration(0)) {
    io.run();
    return;
  }
  // poll() runs what is ready, sockets checked without blocking; run_one() sleeps until one
  // handler has run. Either returns 0 once the io_context has stopped or has no work left.
  auto last_work = std::chrono::steady_clock::now();
  while (!io.stopped()) {
    const auto now = std::chrono::steady_clock::now();
    if (io.poll() > 0) {
      last_work = now;
    } else if (now - last_work >= busy_poll) {
      if (io.run_one() == 0) break;
      last_work = std::chrono::steady_clock::now();
    }
  }
}

}  // namespace gf
