// Reads and writes on a non-blocking socket that spare a system call or a round through the
// scheduler on the request path.
//
// Writes: the kernel takes every byte at once for nearly every request head and response here
// (they fit the socket buffer), but an async_write completes through the scheduler even when its
// first send took it all: a post, a pump of the coroutine machinery and a resume, more
// instructions than the send. So the send is tried first, and only a rest, when the peer's window
// is full, waits for writability.
//
// Reads: asio 1.74 tries every read at once (it marks a socket drained only when a read returns
// 0 bytes), so a read started right after sending a request, or right after answering one, finds
// nothing: a failed recvfrom, two per proxied request, about a tenth of the gateway's system time.
// read_after_turn lets the event loop run once first; by then the answer has usually arrived.
#pragma once

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
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

// Reads into `space` after one turn of the event loop (see above); when nothing has arrived by
// then, waits for it with an ordinary asynchronous read (whose own first try fails too).
// Completes with (error_code, bytes read), as async_read_some does. A composed operation rather
// than a coroutine: a coroutine would cost a frame and a resume of its own for every request,
// twice per proxied request.
//
// Not async_wait(wait_read) then a read, for the miss or from the start: in asio 1.74 every
// async_wait re-arms the descriptor with epoll_ctl(EPOLL_CTL_MOD), a system call that costs more
// than the failed read it spares. Measured from the start: 0.5-2.7 us more system time per
// proxied request in four alternating pairs; for the miss only: no difference.
template <typename MutableBuffer, typename CompletionToken>
auto async_read_after_turn(asio::ip::tcp::socket& socket, MutableBuffer space,
                           CompletionToken&& token) {
  using Signature = void(boost::system::error_code, size_t);
  return asio::async_initiate<CompletionToken, Signature>(
      [&socket, space](auto handler) {
        asio::post(socket.get_executor(), [&socket, space, h = std::move(handler)]() mutable {
          boost::system::error_code ec;
          const size_t n = socket.read_some(space, ec);
          if (ec == asio::error::would_block || ec == asio::error::try_again) {
            socket.async_read_some(space, std::move(h));
            return;
          }
          // Already on the socket's executor, in a handler of its own: no dispatch needed.
          std::move(h)(ec, n);
        });
      },
      token);
}

}  // namespace gf::net
