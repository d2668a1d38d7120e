#include "cli/run_until_signal.h"

#include <boost/asio/signal_set.hpp>
#include <csignal>

namespace gf {

void run_until_signal(boost::asio::io_context& io, const std::function<void()>& stop) {
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    stop();
    io.stop();
  });
  io.run();
}

}  // namespace gf
