// A message body as its bytes arrive: by Content-Length, chunked, or to the end of the
// connection. Shared by the request parser (server) and the response parser (client).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "net/http_fields.h"

namespace gf::net {

class BodyDecoder {
 public:
  enum class Mode { kNone, kLength, kChunked, kUntilClose };

  // `limit`: the most body bytes accepted; more is kBodyTooLarge.
  ParseStatus start(Mode mode, uint64_t length = 0,
                    uint64_t limit = std::numeric_limits<uint64_t>::max());
  // Appends the body bytes in `in` to `out` and returns how many bytes of `in` it used. Bytes
  // after the body's end are left for the next message. `status`: kDone once the body is whole,
  // kNeedMore while it is not, or what was wrong.
  size_t decode(std::string_view in, std::string& out, ParseStatus& status);
  // The connection ended: the end of a body that runs to the close, a cut one otherwise.
  ParseStatus at_eof();
  bool done() const { return state_ == State::kDone; }
  const char* error() const { return error_; }  // what kMalformed meant

 private:
  enum class State { kLength, kChunkSize, kChunkData, kChunkEnd, kTrailer, kUntilClose, kDone };
  size_t chunk_size_line(std::string_view in, ParseStatus& status);
  size_t trailer_line(std::string_view in, ParseStatus& status);
  ParseStatus fail(const char* why) {
    error_ = why;
    return ParseStatus::kMalformed;
  }

  State state_ = State::kDone;
  uint64_t left_ = 0;   // of the body (kLength) or of the chunk (kChunkData)
  uint64_t total_ = 0;  // body bytes so far
  uint64_t limit_ = 0;
  size_t trailer_bytes_ = 0;
  const char* error_ = "";
};

}  // namespace gf::net
