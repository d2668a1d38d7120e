#include "net/http_probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstring>

#include "common/io/unique_fd.h"

namespace gf::net {
namespace {

// Waits until fd is ready for `events` or the deadline passes.
bool wait_fd(int fd, short events, TimePoint deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now()));
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

}  // namespace

Result<int> probe_http(const std::string& host, uint16_t port, const std::string& path,
                       Duration timeout) {
  const TimePoint deadline =
      std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now()) + timeout;
  auto fail = [&](const std::string& what) {
    return make_error(ErrorCode::kUnavailable,
                      fmt::format("GET http://{}:{}{}: {}", host, port, path, what));
  };
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return fail("not an IPv4 address");
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(std::strerror(errno));
  const UniqueFd closer(fd);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    return fail(std::strerror(errno));
  }
  if (!wait_fd(fd, POLLOUT, deadline)) return fail("connect timed out");
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return fail(std::strerror(err));
  std::string req =
      fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", path, host);
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    return fail("send failed");
  }
  std::string head;
  char buf[512];
  while (head.find("\r\n") == std::string::npos) {
    if (!wait_fd(fd, POLLIN, deadline)) return fail("no answer within the timeout");
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return fail("connection closed before a status line");
    head.append(buf, static_cast<size_t>(n));
  }
  // "HTTP/1.1 200 OK"
  int status = 0;
  if (std::sscanf(head.c_str(), "HTTP/%*d.%*d %d", &status) != 1)
    return fail("malformed status line");
  return status;
}

}  // namespace gf::net
