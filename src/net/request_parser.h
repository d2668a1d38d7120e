// Parses HTTP/1.x requests straight into an HttpRequest, with no copy of the fields or the body of
// its own. The server feeds it from its read buffer; the fuzz target
// tests/fuzz/http_request_fuzz.cc feeds it anything. Our own, not Beast's: the head is parsed in
// one pass once it is whole, which costs a third of what Beast's field-by-field state machine did
// per request.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "net/http_request.h"
#include "net/message_parser.h"

namespace gf::net {

class RequestParser : public MessageParser {
 public:
  // The request line, the fields (names lowercased; a repeated name keeps its last value) and the
  // body go straight into `req`. A head over `max_header_bytes` is kHeaderTooLarge, a body over
  // `max_body_bytes` kBodyTooLarge.
  RequestParser(HttpRequest& req, size_t max_header_bytes, uint64_t max_body_bytes)
      : req_(req), max_header_(max_header_bytes), max_body_(max_body_bytes) {}

  // Parses from `in`, what the connection has buffered, and returns how many of its bytes this
  // request used; the rest (a pipelined request) stays with the caller. A head is used only once
  // it is whole. Call again with the used bytes gone and more appended, while status() is
  // kNeedMore.
  size_t put(std::string_view in);
  // The connection ended: a request cut short is kPartial.
  void put_eof();

  unsigned version() const { return version_; }  // 10 or 11

 private:
  size_t parse_head(std::string_view in);

  HttpRequest& req_;
  size_t max_header_;
  uint64_t max_body_;
  unsigned version_ = 11;
};

}  // namespace gf::net
