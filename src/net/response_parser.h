// Parses HTTP/1.x responses for the upstream client: the head once it is whole, then the body as
// it arrives (by length, chunked, or to the close), straight into the caller's string. Replaces
// Beast's parser, whose field-by-field state machine was a sixth of the gateway's CPU per request.
#pragma once

#include <string>
#include <string_view>

#include "net/message_parser.h"

namespace gf::net {

class ResponseParser : public MessageParser {
 public:
  // Fields go into `headers` (names lowercased), body bytes are appended to `body`. A head over
  // `max_header_bytes` is kHeaderTooLarge.
  ResponseParser(Headers& headers, std::string& body, size_t max_header_bytes = 64 << 10)
      : headers_(headers), body_out_(body), max_header_(max_header_bytes) {}

  // The answer to a HEAD request has a head only.
  void no_body() { no_body_ = true; }
  // Parses from `in` and returns how many of its bytes were used; the rest is not this
  // response's. While status() is kNeedMore, call again with more.
  size_t put(std::string_view in);
  // The connection ended: the end of a body that runs to the close, a cut response otherwise.
  void put_eof();

  int code() const { return code_; }

 private:
  size_t parse_head(std::string_view in);

  Headers& headers_;
  std::string& body_out_;
  size_t max_header_;
  bool no_body_ = false;
  int code_ = 0;
};

}  // namespace gf::net
