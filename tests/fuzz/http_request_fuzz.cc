// libFuzzer target: the HTTP request parser the server runs on every connection must take any
// bytes, cut into pieces anywhere, without a crash, hang or sanitizer report; and a request it
// accepts must keep the limits and shapes the server relies on. Requests are parsed one after
// another from the same bytes, as a kept-alive connection pipelines them, reusing header nodes.
#include <algorithm>
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
  using gf::net::ParseStatus;
  if (size < 1) return 0;
  const size_t step = 1 + data[0] % 64;  // the bytes arrive in pieces of this size
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t next = 0;      // first byte of `in` not yet handed over
  std::string pending;  // handed over, not yet consumed by a parser
  gf::net::HttpRequest req;
  for (int requests = 0; requests < 8; ++requests) {
    // What the server does between requests: keep the header strings, clear the rest.
    req.headers.clear();
    req.method.clear();
    req.target.clear();
    req.path.clear();
    req.body.clear();
    gf::net::RequestParser p(req, kHeaderLimit, kBodyLimit);
    bool got_some = !pending.empty();
    for (;;) {
      const size_t used = p.put(pending);
      check(used <= pending.size());
      pending.erase(0, used);
      if (p.status() != ParseStatus::kNeedMore) break;
      if (next >= in.size()) {
        if (!got_some) return 0;  // the connection ended between requests
        p.put_eof();
        check(p.status() == ParseStatus::kPartial);
        return 0;
      }
      const size_t n = std::min(step, in.size() - next);
      pending.append(in.substr(next, n));
      next += n;
      got_some = true;
    }
    if (!p.done()) {
      // Refused (malformed, too large): the server answers 4xx and closes.
      check(p.status() != ParseStatus::kMalformed || !p.error().empty());
      return 0;
    }
    check(p.header_done());
    check(req.body.size() <= kBodyLimit);
    check(!req.method.empty());
    check(req.target.compare(0, req.path.size(), req.path) == 0);
    check(req.path.find('?') == std::string::npos);
    check(p.version() == 10 || p.version() == 11);
    for (const auto& [name, value] : req.headers) {
      check(!name.empty());
      for (char c : name)
        check(!(c >= 'A' && c <= 'Z'));
      check(value.find_first_of("\r\n") == std::string::npos);
    }
  }
  return 0;
}
