// The shells' main loop: handlers run, and SIGTERM stops it, whether it sleeps between events or
// busy-polls (--busy-poll).
#include "cli/run_until_signal.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>

namespace gf {
namespace {

using namespace std::chrono_literals;

// A timer, then a handler it posts, then SIGTERM from inside the loop: returns what ran.
struct Ran {
  bool timer = false;
  bool posted = false;
  bool stopped = false;
};
Ran run_once(Duration busy_poll) {
  boost::asio::io_context io(1);
  Ran ran;
  boost::asio::steady_timer t(io, 20ms);  // long past any busy-poll window below
  t.async_wait([&](const boost::system::error_code& ec) {
    ran.timer = !ec;
    boost::asio::post(io, [&] {
      ran.posted = true;
      std::raise(SIGTERM);  // caught by the loop's signal_set
    });
  });
  run_until_signal(
      io, [&] { ran.stopped = true; }, busy_poll);
  return ran;
}

TEST(RunUntilSignal, RunsHandlersAndStopsOnSigterm) {
  for (Duration busy_poll : {Duration(0), Duration(5ms), Duration(1s)}) {
    const Ran ran = run_once(busy_poll);
    EXPECT_TRUE(ran.timer) << busy_poll.count();
    EXPECT_TRUE(ran.posted) << busy_poll.count();
    EXPECT_TRUE(ran.stopped) << busy_poll.count();
  }
}

}  // namespace
}  // namespace gf
