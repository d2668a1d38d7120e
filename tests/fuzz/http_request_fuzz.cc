// libFuzzer target: the HTTP request parser the server runs on every connection must take any
// bytes, cut into pieces anywhere, without a crash, hang or sanitizer report; and a request it
// accepts must keep the limits and shapes the server relies on. Requests are parsed one after
// another from the same bytes, as a kept-alive connection pipelines them, reusing header nodes.
#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/request_parser.h"

namespace {

constexpr size_t kBodyLimit = 4096;
constexpr uint32_t kHeaderLimit = 1024;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace http = boost::beast::http;
  if (size < 1) return 0;
  const size_t step = 1 + data[0] % 64;  // the bytes arrive in pieces of this size
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t next = 0;      // first byte of `in` not yet handed over
  std::string pending;  // handed over, not yet consumed by a parser
  gf::net::HttpRequest req;
  std::vector<gf::net::Headers::node_type> spare;
  for (int requests = 0; requests < 8; ++requests) {
    // What the server does between requests: keep the header nodes, clear the rest.
    while (!req.headers.empty())
      spare.push_back(req.headers.extract(req.headers.begin()));
    req.method.clear();
    req.target.clear();
    req.path.clear();
    req.body.clear();
    gf::net::RequestParser p(req, spare);
    p.body_limit(kBodyLimit);
    p.header_limit(kHeaderLimit);
    p.eager(true);
    boost::beast::error_code ec;
    bool need_more = pending.empty();
    while (!p.is_done()) {
      if (need_more) {
        if (next >= in.size()) {
          if (!p.got_some()) return 0;  // the connection ended between requests
          p.put_eof(ec);
          break;
        }
        const size_t n = std::min(step, in.size() - next);
        pending.append(in.substr(next, n));
        next += n;
        need_more = false;
      }
      const size_t used = p.put(boost::asio::buffer(pending), ec);
      check(used <= pending.size());
      pending.erase(0, used);
      if (ec == http::error::need_more) {
        ec = {};
        need_more = true;
        continue;
      }
      if (ec) return 0;  // refused (malformed, too large): the server answers 4xx and closes
      if (pending.empty()) need_more = true;
    }
    if (ec || !p.is_done()) return 0;
    check(req.body.size() <= kBodyLimit);
    check(!req.method.empty());
    check(req.target.compare(0, req.path.size(), req.path) == 0);
    check(req.path.find('?') == std::string::npos);
    check(p.version == 10 || p.version == 11);
    for (const auto& [name, value] : req.headers) {
      check(!name.empty());
      for (char c : name)
        check(!(c >= 'A' && c <= 'Z'));
    }
  }
  return 0;
}
