// Reads the head of an HTTP/1.x message once it is whole: where it ends, its field lines, and what
// they say about the body's framing and the connection. Shared by the request parser (server) and
// the response parser (client); no Asio, so the fuzz targets build it with clang.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/http_request.h"

namespace gf::net {

// How a parse stands. kNeedMore: every byte given was used or kept for later; give more.
enum class ParseStatus { kNeedMore, kDone, kMalformed, kHeaderTooLarge, kBodyTooLarge, kPartial };

// Finds the blank line that ends a head, scanning `buf` from `from` (what an earlier call already
// scanned, so a head that trickles in is not searched again from its start). Returns the head's
// length, blank line included, or 0 when it is not all here; `from` moves on either way.
size_t find_head_end(std::string_view buf, size_t& from);

// The whole head at the front of `in` (blank line included), or empty while it is not all here.
// `scanned` carries what earlier calls searched; `status` becomes kHeaderTooLarge once the head
// cannot fit in `limit` bytes.
std::string_view whole_head(std::string_view in, size_t& scanned, size_t limit,
                            ParseStatus& status);

// The three parts of a start line, split at its first two spaces ("POST /v1 HTTP/1.1",
// "HTTP/1.1 200 OK"; the last part keeps any further spaces), and the fields after it.
struct StartLine {
  std::string_view first, second, third;
  std::string_view fields;  // the field lines and the blank line
};
std::optional<StartLine> split_start_line(std::string_view head);

// What the fields of a head say about its body and its connection.
struct Framing {
  std::optional<uint64_t> content_length;
  bool chunked = false;       // Transfer-Encoding ends in chunked
  bool other_coding = false;  // Transfer-Encoding without chunked last
  bool close = false;         // Connection: close
  bool keep_alive = false;    // Connection: keep-alive
};

// Parses the field lines of `fields` (from after the start line up to and including the blank
// line) into `headers`, names lowercased, in arrival order (find() gives a repeated name's last
// value). Returns an empty string, or what was wrong, for a 400's message.
std::string parse_fields(std::string_view fields, Headers& headers, Framing& framing);

// "HTTP/1.1" → 11, "HTTP/1.0" → 10, anything else → 0.
unsigned parse_version(std::string_view v);

}  // namespace gf::net
