#include "net/response_parser.h"

namespace gf::net {

size_t ResponseParser::put(std::string_view in) {
  if (status_ != ParseStatus::kNeedMore) return 0;
  size_t used = 0;
  // Interim (1xx) responses are read past: what the caller wants is the final one.
  while (!header_done_) {
    const size_t n = parse_head(in.substr(used));
    used += n;
    if (n == 0 || status_ != ParseStatus::kNeedMore) return used;
  }
  return used + put_body(in.substr(used), body_out_);
}

size_t ResponseParser::parse_head(std::string_view in) {
  const std::string_view head = whole_head(in, scanned_, max_header_, status_);
  if (head.empty()) return 0;
  scanned_ = 0;  // the next head, if this one is interim, starts after it
  const auto line = split_start_line(head);
  const unsigned version = line ? parse_version(line->first) : 0;
  if (version == 0) {
    malformed("bad status line");
    return head.size();
  }
  const std::string_view code = line->second;
  if (code.size() != 3 || code[0] < '1' || code[0] > '5' || code[1] < '0' || code[1] > '9' ||
      code[2] < '0' || code[2] > '9') {
    malformed("bad status code");
    return head.size();
  }
  code_ = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  Framing framing;
  headers_.clear();  // an interim response's fields are not the final one's
  if (std::string e = parse_fields(line->fields, headers_, framing); !e.empty()) {
    malformed(std::move(e));
    return head.size();
  }
  if (code_ < 200 && code_ != 101) return head.size();  // interim: the final head follows
  header_done_ = true;
  // RFC 9112 6.3: these have no body whatever their fields say; chunked wins over a length; any
  // other coding, or no framing at all, runs to the close.
  using Mode = BodyDecoder::Mode;
  Mode mode = Mode::kUntilClose;
  if (no_body_ || code_ < 200 || code_ == 204 || code_ == 304)
    mode = Mode::kNone;
  else if (framing.chunked)
    mode = Mode::kChunked;
  else if (framing.content_length && !framing.other_coding)
    mode = Mode::kLength;
  keep_alive_ = mode != Mode::kUntilClose && !framing.close && code_ != 101 &&
                (version == 11 || framing.keep_alive);
  if (mode == Mode::kLength && *framing.content_length <= (1 << 20))
    body_out_.reserve(body_out_.size() + static_cast<size_t>(*framing.content_length));
  status_ = body_.start(mode, framing.content_length.value_or(0));
  if (status_ == ParseStatus::kDone) status_ = ParseStatus::kNeedMore;  // put() decodes, then ends
  return head.size();
}

void ResponseParser::put_eof() {
  if (status_ != ParseStatus::kNeedMore) return;
  status_ = header_done_ ? body_.at_eof() : ParseStatus::kPartial;
}

}  // namespace gf::net
