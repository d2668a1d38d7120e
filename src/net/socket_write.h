// Writes to a non-blocking socket without suspending the coroutine when the kernel takes every
// byte at once, as it does for nearly every request head and response here (they fit the socket
// buffer). An async_write completes through the scheduler even when its first send took it all:
// a post, a pump of the coroutine machinery and a resume, more instructions than the send. Only a
// rest, when the peer's window is full, waits for writability.
#pragma once

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace gf::net {

namespace asio = boost::asio;

// Sends what the socket takes now and returns how many bytes that was; a full socket buffer is
// not an error. The socket must be in non-blocking mode (non_blocking(true)).
template <size_t N>
size_t write_now(asio::ip::tcp::socket& socket, const std::array<asio::const_buffer, N>& buffers,
                 boost::system::error_code& ec) {
  const size_t n = socket.write_some(buffers, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    ec = {};
    return 0;
  }
  return ec ? 0 : n;
}

// Writes what write_now left, the bytes of `buffers` after the first `sent`.
template <size_t N>
asio::awaitable<void> write_rest(asio::ip::tcp::socket& socket,
                                 std::array<asio::const_buffer, N> buffers, size_t sent,
                                 boost::system::error_code& ec) {
  for (auto& b : buffers) {
    const size_t skip = std::min(sent, b.size());
    b += skip;
    sent -= skip;
  }
  co_await asio::async_write(socket, buffers, asio::redirect_error(asio::use_awaitable, ec));
}

// Whether write_now sent everything; if not (and no error), co_await write_rest.
template <size_t N>
bool all_sent(const std::array<asio::const_buffer, N>& buffers, size_t sent) {
  return sent == asio::buffer_size(buffers);
}

}  // namespace gf::net
