#include "net/request_parser.h"

#include <algorithm>

namespace gf::net {

namespace {
// A method is a token; in practice an upper-case word, and anything else is refused before it can
// reach a handler's comparisons.
bool valid_method(std::string_view m) {
  if (m.empty()) return false;
  for (char c : m)
    if (c < 'A' || c > 'Z') return false;
  return true;
}

// Visible characters only: a target with a space or control character is not a target.
bool valid_target(std::string_view t) {
  if (t.empty()) return false;
  for (char ch : t) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}
}  // namespace

size_t RequestParser::put(std::string_view in) {
  if (status_ != ParseStatus::kNeedMore) return 0;
  size_t used = 0;
  if (!header_done_) {
    used = parse_head(in);
    if (status_ != ParseStatus::kNeedMore || !header_done_) return used;
  }
  return used + put_body(in.substr(used), req_.body);
}

size_t RequestParser::parse_head(std::string_view in) {
  const std::string_view head = whole_head(in, scanned_, max_header_, status_);
  if (head.empty()) return 0;
  const auto line = split_start_line(head);
  if (!line) {
    malformed("bad request line");
    return 0;
  }
  if (!valid_method(line->first)) {
    malformed("bad method");
    return 0;
  }
  if (!valid_target(line->second)) {
    malformed("bad request target");
    return 0;
  }
  version_ = parse_version(line->third);
  if (version_ == 0) {
    malformed("unsupported HTTP version (HTTP/1.0 and HTTP/1.1 are served)");
    return 0;
  }
  req_.method.assign(line->first);
  req_.target.assign(line->second);
  req_.path.assign(line->second.substr(0, std::min(line->second.find('?'), line->second.size())));
  Framing framing;
  if (std::string e = parse_fields(line->fields, req_.headers, framing); !e.empty()) {
    malformed(std::move(e));
    return 0;
  }
  keep_alive_ = !framing.close && (version_ == 11 || framing.keep_alive);
  header_done_ = true;
  // A request's length must be unambiguous (RFC 9112 6.3): both framings at once, or a coding we
  // cannot undo, is how request smuggling starts.
  if (framing.chunked && framing.content_length) {
    malformed("both Content-Length and Transfer-Encoding");
    return head.size();
  }
  if (framing.other_coding) {
    malformed("unsupported Transfer-Encoding (only chunked is)");
    return head.size();
  }
  ParseStatus s = framing.chunked ? body_.start(BodyDecoder::Mode::kChunked, 0, max_body_)
                  : framing.content_length
                      ? body_.start(BodyDecoder::Mode::kLength, *framing.content_length, max_body_)
                      : body_.start(BodyDecoder::Mode::kNone);
  if (s == ParseStatus::kBodyTooLarge) {
    status_ = s;
    return head.size();
  }
  // The length is within the body limit; a client that announces a large body but sends little
  // gets no more than 1 MiB reserved ahead.
  if (framing.content_length && *framing.content_length > 0)
    req_.body.reserve(static_cast<size_t>(std::min<uint64_t>(*framing.content_length, 1 << 20)) +
                      kBodySlack);
  return head.size();
}

void RequestParser::put_eof() {
  if (status_ == ParseStatus::kNeedMore) status_ = ParseStatus::kPartial;
}

}  // namespace gf::net
