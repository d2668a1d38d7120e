#include "net/resolve.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

namespace gf::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// What the lookup thread hands back. The loop may have given up (its coroutine destroyed) by the
// time the thread finishes, so the thread holds its own reference.
struct Lookup {
  std::mutex m;
  int status = EAI_SYSTEM;
  std::vector<tcp::endpoint> endpoints;
};

void run_lookup(const std::shared_ptr<Lookup>& out, const std::string& host, uint16_t port,
                int notify_fd) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  const int status = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  {
    std::lock_guard lock(out->m);
    out->status = status;
    for (addrinfo* a = res; status == 0 && a != nullptr; a = a->ai_next) {
      tcp::endpoint e;
      if (a->ai_addrlen > e.capacity()) continue;
      std::memcpy(e.data(), a->ai_addr, a->ai_addrlen);
      e.resize(a->ai_addrlen);
      out->endpoints.push_back(e);
    }
  }
  if (res != nullptr) ::freeaddrinfo(res);
  // MSG_NOSIGNAL: the loop's end may be closed already, which must not raise SIGPIPE.
  const char done = 1;
  (void)::send(notify_fd, &done, 1, MSG_NOSIGNAL);
  ::close(notify_fd);
}

Error lookup_failed(const std::string& host, const std::string& why) {
  return make_error(ErrorCode::kUnavailable, "cannot resolve " + host + ": " + why);
}

}  // namespace

asio::awaitable<Result<std::vector<tcp::endpoint>>> resolve(asio::io_context& io, std::string host,
                                                            uint16_t port) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    co_return lookup_failed(host, std::string("socketpair: ") + std::strerror(errno));
  asio::posix::stream_descriptor wake(io, fds[0]);
  auto lookup = std::make_shared<Lookup>();
  try {
    std::thread([lookup, host, port, fd = fds[1]] { run_lookup(lookup, host, port, fd); }).detach();
  } catch (const std::system_error& e) {
    ::close(fds[1]);
    co_return lookup_failed(host, std::string("no thread for the lookup: ") + e.what());
  }
  boost::system::error_code ec;
  co_await wake.async_wait(asio::posix::stream_descriptor::wait_read,
                           asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return lookup_failed(host, ec.message());
  std::lock_guard lock(lookup->m);
  if (lookup->status != 0) co_return lookup_failed(host, ::gai_strerror(lookup->status));
  if (lookup->endpoints.empty()) co_return lookup_failed(host, "no address");
  co_return std::move(lookup->endpoints);
}

}  // namespace gf::net
