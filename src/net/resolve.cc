#include "net/resolve.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "common/io/unique_fd.h"

namespace gf::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// One lookup's answer. The loop may have given up (timed out, or its coroutine destroyed) by the
// time the lookup thread gets to it, so both hold a reference.
struct Lookup {
  std::string host;
  uint16_t port = 0;
  int notify_fd = -1;  // the thread's end of the socket pair; it closes it when done
  std::mutex m;
  int status = EAI_SYSTEM;
  std::vector<tcp::endpoint> endpoints;
};

void run_lookup(Lookup& l) {
  int status = EAI_MEMORY;
  std::vector<tcp::endpoint> found;
  try {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    status = ::getaddrinfo(l.host.c_str(), std::to_string(l.port).c_str(), &hints, &res);
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(res, &::freeaddrinfo);
    for (addrinfo* a = res; status == 0 && a != nullptr; a = a->ai_next) {
      tcp::endpoint e;
      if (a->ai_addrlen > e.capacity()) continue;
      std::memcpy(e.data(), a->ai_addr, a->ai_addrlen);
      e.resize(a->ai_addrlen);
      found.push_back(e);
    }
  } catch (const std::bad_alloc&) {
    status = EAI_MEMORY;
    found.clear();
  }
  {
    std::lock_guard lock(l.m);
    l.status = status;
    l.endpoints = std::move(found);
  }
  // Always answered, so the loop never waits on a lookup that failed. MSG_NOSIGNAL: the loop's
  // end may be closed already, which must not raise SIGPIPE.
  const char done = 1;
  (void)::send(l.notify_fd, &done, 1, MSG_NOSIGNAL);
  ::close(l.notify_fd);
}

// The lookup thread and its queue. Allocated once and never destroyed: the thread may still be in
// getaddrinfo when the process exits, and must not find its queue destroyed under it.
class LookupQueue {
 public:
  static LookupQueue& instance() {
    static auto* q = new LookupQueue;  // NOLINT: deliberately never freed, see above
    return *q;
  }
  // Throws std::system_error when the thread cannot be started.
  void push(std::shared_ptr<Lookup> l) {
    std::lock_guard lock(m_);
    if (!started_) {
      std::thread([this] { run(); }).detach();
      started_ = true;
    }
    jobs_.push_back(std::move(l));
    cv_.notify_one();
  }

 private:
  void run() {
    for (;;) {
      std::shared_ptr<Lookup> l;
      {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] { return !jobs_.empty(); });
        l = std::move(jobs_.front());
        jobs_.pop_front();
      }
      run_lookup(*l);
    }
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Lookup>> jobs_;
  bool started_ = false;
};

Error lookup_failed(const std::string& host, const std::string& why) {
  return make_error(ErrorCode::kUnavailable, "cannot resolve " + host + ": " + why);
}

}  // namespace

asio::awaitable<Result<std::vector<tcp::endpoint>>> resolve(asio::io_context& io, std::string host,
                                                            uint16_t port, Duration timeout) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    co_return lookup_failed(host, std::string("socketpair: ") + std::strerror(errno));
  UniqueFd ours(fds[0]), theirs(fds[1]);
  std::shared_ptr<Lookup> lookup;
  std::unique_ptr<asio::posix::stream_descriptor> wake;
  try {
    wake = std::make_unique<asio::posix::stream_descriptor>(io, ours.get());
    ours.release();  // the stream_descriptor owns it now
    lookup = std::make_shared<Lookup>();
    lookup->host = host;
    lookup->port = port;
    lookup->notify_fd = theirs.get();
    LookupQueue::instance().push(lookup);
    theirs.release();  // the lookup thread closes it
  } catch (const std::exception& e) {
    co_return lookup_failed(host, std::string("cannot start the lookup: ") + e.what());
  }
  // The timer cancels the wait; it is cancelled in turn once the answer is in.
  asio::steady_timer timer(io);
  timer.expires_after(timeout);
  bool timed_out = false;
  timer.async_wait([&timed_out, &wake](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: the answer came first
    timed_out = true;
    wake->cancel();
  });
  boost::system::error_code ec;
  co_await wake->async_wait(asio::posix::stream_descriptor::wait_read,
                            asio::redirect_error(asio::use_awaitable, ec));
  timer.cancel();
  if (timed_out) co_return lookup_failed(host, "timed out after " + format_duration(timeout));
  if (ec) co_return lookup_failed(host, ec.message());
  std::lock_guard lock(lookup->m);
  if (lookup->status != 0) co_return lookup_failed(host, ::gai_strerror(lookup->status));
  if (lookup->endpoints.empty()) co_return lookup_failed(host, "no address");
  co_return std::move(lookup->endpoints);
}

}  // namespace gf::net
