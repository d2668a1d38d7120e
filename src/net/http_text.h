// The few text rules the HTTP server, client and request parser share when they write heads or
// read field names by hand.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace gf::net {

inline bool has_crlf(std::string_view s) {
  for (char c : s)  // (find_first_of calls memchr once per character of its set)
    if (c == '\r' || c == '\n') return true;
  return false;
}

// A field we may write: a CR or LF would let a value forge headers or a whole response, and a
// name with a colon or white space is not a name.
inline bool valid_header(std::string_view name, std::string_view value) {
  if (name.empty() || has_crlf(value)) return false;
  for (char c : name)
    if (c == ':' || c == ' ' || c == '\t' || c == '\r' || c == '\n') return false;
  return true;
}

// ASCII only, as HTTP field names are; std::tolower is a libc call per character.
inline void assign_lowercase(std::string& out, std::string_view in) {
  out.assign(in.data(), in.size());
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
}

// Appends a string literal without measuring it (operator+= runs strlen on one).
template <size_t N>
void put(std::string& out, const char (&literal)[N]) {
  out.append(literal, N - 1);
}

inline void append_number(std::string& out, uint64_t v, int base = 10) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v, base);
  out.append(digits, end);
}

}  // namespace gf::net
