#include "net/body_decoder.h"

#include <algorithm>

namespace gf::net {

namespace {
// A chunk-size line (with its extensions) or the trailer may not run on forever: without a cap, a
// peer could make us buffer without end while we wait for a line's end.
constexpr size_t kMaxLine = 4096;
constexpr size_t kMaxTrailer = 16384;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

ParseStatus BodyDecoder::start(Mode mode, uint64_t length, uint64_t limit) {
  total_ = 0;
  limit_ = limit;
  trailer_bytes_ = 0;
  error_ = "";
  switch (mode) {
    case Mode::kNone:
      state_ = State::kDone;
      return ParseStatus::kDone;
    case Mode::kLength:
      if (length > limit) return ParseStatus::kBodyTooLarge;
      left_ = length;
      state_ = length == 0 ? State::kDone : State::kLength;
      return length == 0 ? ParseStatus::kDone : ParseStatus::kNeedMore;
    case Mode::kChunked:
      state_ = State::kChunkSize;
      return ParseStatus::kNeedMore;
    case Mode::kUntilClose:
      state_ = State::kUntilClose;
      return ParseStatus::kNeedMore;
  }
  return ParseStatus::kNeedMore;
}

size_t BodyDecoder::decode(std::string_view in, std::string& out, ParseStatus& status) {
  size_t used = 0;
  status = ParseStatus::kNeedMore;
  while (state_ != State::kDone) {
    const std::string_view rest = in.substr(used);
    switch (state_) {
      case State::kLength:
      case State::kChunkData: {
        if (rest.empty()) return used;
        const auto n = static_cast<size_t>(std::min<uint64_t>(left_, rest.size()));
        out.append(rest.data(), n);
        used += n;
        left_ -= n;
        if (left_ == 0) state_ = state_ == State::kLength ? State::kDone : State::kChunkEnd;
        break;
      }
      case State::kUntilClose:
        if (rest.size() > limit_ - total_) {
          status = ParseStatus::kBodyTooLarge;
          return used;
        }
        total_ += rest.size();
        out.append(rest.data(), rest.size());
        return used + rest.size();
      case State::kChunkEnd:
        if (rest.size() < 2) return used;
        if (rest[0] != '\r' || rest[1] != '\n') {
          status = fail("chunk data does not end in CRLF");
          return used;
        }
        used += 2;
        state_ = State::kChunkSize;
        break;
      case State::kChunkSize: {
        const size_t n = chunk_size_line(rest, status);
        if (n == 0) return used;  // the line is not all here, or it is bad
        used += n;
        break;
      }
      case State::kTrailer: {
        const size_t n = trailer_line(rest, status);
        if (n == 0) return used;
        used += n;
        break;
      }
      case State::kDone:
        break;
    }
  }
  status = ParseStatus::kDone;
  return used;
}

// "<hex size>[;extensions]\r\n". Returns the line's length, 0 when it is not whole (or bad).
size_t BodyDecoder::chunk_size_line(std::string_view in, ParseStatus& status) {
  const size_t eol = in.find("\r\n");
  if (eol == std::string_view::npos) {
    if (in.size() > kMaxLine) status = fail("chunk size line too long");
    return 0;
  }
  uint64_t size = 0;
  size_t i = 0;
  for (; i < eol; ++i) {
    const int v = hex_value(in[i]);
    if (v < 0) break;
    if (size >> 60 != 0) {
      status = fail("chunk size too large");
      return 0;
    }
    size = size << 4 | static_cast<uint64_t>(v);
  }
  // Extensions (after ';', maybe after white space) are allowed and ignored.
  while (i < eol && (in[i] == ' ' || in[i] == '\t'))
    ++i;
  if (i == 0 || (i < eol && in[i] != ';')) {
    status = fail("bad chunk size");
    return 0;
  }
  if (size > limit_ - total_) {
    status = ParseStatus::kBodyTooLarge;
    return 0;
  }
  total_ += size;
  left_ = size;
  state_ = size == 0 ? State::kTrailer : State::kChunkData;
  return eol + 2;
}

// Trailer fields are read past, up to the blank line that ends the body.
size_t BodyDecoder::trailer_line(std::string_view in, ParseStatus& status) {
  const size_t eol = in.find("\r\n");
  if (eol == std::string_view::npos) {
    if (trailer_bytes_ + in.size() > kMaxTrailer) status = fail("trailer too long");
    return 0;
  }
  trailer_bytes_ += eol + 2;
  if (trailer_bytes_ > kMaxTrailer) {
    status = fail("trailer too long");
    return 0;
  }
  if (eol == 0) state_ = State::kDone;
  return eol + 2;
}

ParseStatus BodyDecoder::at_eof() {
  if (state_ == State::kUntilClose) state_ = State::kDone;
  return state_ == State::kDone ? ParseStatus::kDone : ParseStatus::kPartial;
}

}  // namespace gf::net
