// libFuzzer target: the response parser the gateway runs on every upstream reply must take any
// bytes without a crash, hang or sanitizer report, and must parse them the same whether they come
// at once or in pieces of any size (a stream's chunks arrive however the network cuts them).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "net/response_parser.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Outcome {
  gf::net::ParseStatus status;
  int code;
  bool keep_alive;
  std::string body;
  size_t left;  // bytes not used
  size_t fields;
};

Outcome run(std::string_view in, size_t step, bool head) {
  gf::net::Headers headers;
  std::string body;
  gf::net::ResponseParser p(headers, body, 1024);
  if (head) p.no_body();
  std::string pending;
  size_t next = 0;
  while (p.status() == gf::net::ParseStatus::kNeedMore && next < in.size()) {
    const size_t n = std::min(step, in.size() - next);
    pending.append(in.substr(next, n));
    next += n;
    const size_t used = p.put(pending);
    check(used <= pending.size());
    pending.erase(0, used);
  }
  if (p.status() == gf::net::ParseStatus::kNeedMore) p.put_eof();
  for (const auto& [name, value] : headers) {
    check(!name.empty());
    for (char c : name)
      check(!(c >= 'A' && c <= 'Z'));
  }
  if (p.header_done()) check(p.code() >= 100 && p.code() <= 599);
  return {p.status(),    p.code(), p.keep_alive(), body, in.size() - next + pending.size(),
          headers.size()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t step = 1 + data[0] % 32;
  const bool head = data[0] & 0x80;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Outcome whole = run(in, in.size() + 1, head);
  const Outcome pieces = run(in, step, head);
  check(whole.status == pieces.status);
  if (whole.status == gf::net::ParseStatus::kDone) {
    check(whole.code == pieces.code);
    check(whole.keep_alive == pieces.keep_alive);
    check(whole.body == pieces.body);
    check(whole.left == pieces.left);
    check(whole.fields == pieces.fields);
  }
  return 0;
}
