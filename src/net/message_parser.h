// What the request and response parsers share: where a parse stands, and the step after the head,
// the body decoded into the caller's string.
#pragma once

#include <string>
#include <string_view>

#include "net/body_decoder.h"
#include "net/http_fields.h"

namespace gf::net {

class MessageParser {
 public:
  ParseStatus status() const { return status_; }
  bool header_done() const { return header_done_; }
  bool done() const { return status_ == ParseStatus::kDone; }
  // Whether the connection may carry another message once this one is whole.
  bool keep_alive() const { return keep_alive_; }
  std::string error() const { return error_; }  // what kMalformed meant

 protected:
  // The body's bytes in `in` appended to `out`; returns how many bytes of `in` it used.
  size_t put_body(std::string_view in, std::string& out) {
    ParseStatus s = ParseStatus::kNeedMore;
    const size_t used = body_.decode(in, out, s);
    if (s == ParseStatus::kMalformed)
      malformed(body_.error());
    else
      status_ = s;
    return used;
  }
  void malformed(std::string why) {
    error_ = std::move(why);
    status_ = ParseStatus::kMalformed;
  }

  BodyDecoder body_;
  ParseStatus status_ = ParseStatus::kNeedMore;
  size_t scanned_ = 0;  // of the head, by earlier calls
  bool header_done_ = false;
  bool keep_alive_ = false;
  std::string error_;
};

}  // namespace gf::net
