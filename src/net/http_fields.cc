#include "net/http_fields.h"

#include <array>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "net/http_text.h"

namespace gf::net {

namespace {

// RFC 9110 token characters, each mapped to its lower case, and 0 for any other byte: a field name
// is checked and lowercased in one table lookup per byte.
constexpr std::array<char, 256> make_lower_token_table() {
  std::array<char, 256> t{};
  for (int c = '0'; c <= '9'; ++c)
    t[static_cast<size_t>(c)] = static_cast<char>(c);
  for (int c = 'a'; c <= 'z'; ++c)
    t[static_cast<size_t>(c)] = static_cast<char>(c);
  for (int c = 'A'; c <= 'Z'; ++c)
    t[static_cast<size_t>(c)] = static_cast<char>(c - 'A' + 'a');
  for (char c : std::string_view("!#$%&'*+-.^_`|~"))
    t[static_cast<unsigned char>(c)] = c;
  return t;
}
constexpr std::array<char, 256> kLowerToken = make_lower_token_table();

// The first control character (or DEL) in [p, end), or end: where a field value ends (at its CR)
// or goes wrong. Sixteen bytes at a time where SSE2 is there, as it is on every x86-64: this loop
// sees every byte of every head.
const char* find_control(const char* p, const char* end) {
#ifdef __SSE2__
  const __m128i low = _mm_set1_epi8(0x1f);
  const __m128i del = _mm_set1_epi8(0x7f);
  while (end - p >= 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(x, low), x);  // x <= 0x1f, unsigned
    const int mask = _mm_movemask_epi8(_mm_or_si128(ctl, _mm_cmpeq_epi8(x, del)));
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  for (; p < end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c < 0x20 || c == 0x7f) return p;
  }
  return end;
}

// How many bytes from p are letters, digits or '-' (what nearly every field name is made of),
// written lowercased to out (of size n); where SSE2 is there, sixteen at a time. The caller
// finishes the name, if it goes on, a byte at a time.
size_t lowercase_name_prefix(const char* p, const char* end, char* out, size_t n) {
  size_t done = 0;
#ifdef __SSE2__
  // Signed compares suffice: bytes of 0x80 and up are negative, in none of the ranges.
  const auto in_range = [](__m128i x, char lo, char hi) {
    return _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(static_cast<char>(lo - 1))),
                         _mm_cmplt_epi8(x, _mm_set1_epi8(static_cast<char>(hi + 1))));
  };
  while (end - (p + done) >= 16 && n - done >= 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + done));
    const __m128i upper = in_range(x, 'A', 'Z');
    const __m128i ok =
        _mm_or_si128(_mm_or_si128(upper, in_range(x, 'a', 'z')),
                     _mm_or_si128(in_range(x, '0', '9'), _mm_cmpeq_epi8(x, _mm_set1_epi8('-'))));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + done),
                     _mm_add_epi8(x, _mm_and_si128(upper, _mm_set1_epi8(0x20))));
    const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(ok));
    if (mask != 0xffff) return done + static_cast<size_t>(__builtin_ctz(~mask));
    done += 16;
  }
#else
  (void)p;
  (void)end;
  (void)out;
  (void)n;
#endif
  return done;
}

// Where "\r\n\r\n" starts in [p, end), or end. SSE2 tests sixteen starting positions at once:
// each of the four bytes is compared at its offset, and a position where all four match is it.
const char* find_blank_line(const char* p, const char* end) {
#ifdef __SSE2__
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  while (end - p >= 19) {
    const auto at = [&](int k) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k)); };
    const __m128i hit =
        _mm_and_si128(_mm_and_si128(_mm_cmpeq_epi8(at(0), cr), _mm_cmpeq_epi8(at(1), lf)),
                      _mm_and_si128(_mm_cmpeq_epi8(at(2), cr), _mm_cmpeq_epi8(at(3), lf)));
    const int mask = _mm_movemask_epi8(hit);
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  for (; end - p >= 4; ++p)
    if (p[0] == '\r' && p[1] == '\n' && p[2] == '\r' && p[3] == '\n') return p;
  return end;
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
    v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
    v.remove_suffix(1);
  return v;
}

bool iequals(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

// Calls f on each comma-separated element of a list value, trimmed, empty ones skipped.
template <typename F>
void for_each_element(std::string_view list, F&& f) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view e = trim(list.substr(0, comma));
    if (!e.empty()) f(e);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// Content-Length may repeat (as a list or as lines) only with the same value (RFC 9110 8.6); two
// different lengths are how request smuggling starts.
std::string read_length(std::string_view value, Framing& framing) {
  std::string err;
  for_each_element(value, [&](std::string_view e) {
    uint64_t n = 0;
    for (char c : e) {
      if (c < '0' || c > '9') {
        err = "Content-Length is not a number";
        return;
      }
      if (n > (UINT64_MAX - 9) / 10) {
        err = "Content-Length is too large";
        return;
      }
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (framing.content_length && *framing.content_length != n && err.empty())
      err = "conflicting Content-Length values";
    framing.content_length = n;
  });
  if (err.empty() && !framing.content_length) err = "empty Content-Length";
  return err;
}

void read_transfer_encoding(std::string_view value, Framing& framing) {
  for_each_element(value, [&](std::string_view e) {
    // Whatever follows chunked means chunked is not the last coding; any coding but chunked,
    // before it or after, is remembered: "gzip, chunked" is not plain chunked.
    framing.chunked = iequals(e, "chunked");
    framing.other_coding = framing.other_coding || !framing.chunked;
  });
}

void read_connection(std::string_view value, Framing& framing) {
  for_each_element(value, [&](std::string_view e) {
    if (iequals(e, "close")) framing.close = true;
    if (iequals(e, "keep-alive")) framing.keep_alive = true;
  });
}

}  // namespace

size_t find_head_end(std::string_view buf, size_t& from) {
  // The blank line may straddle what was scanned before and what is new.
  const char* const begin = buf.data();
  const char* const end = begin + buf.size();
  const char* const hit = find_blank_line(begin + (from > 3 ? from - 3 : 0), end);
  from = buf.size();
  return hit == end ? 0 : static_cast<size_t>(hit + 4 - begin);
}

std::string_view whole_head(std::string_view in, size_t& scanned, size_t limit,
                            ParseStatus& status) {
  const size_t end = find_head_end(in, scanned);
  if (end == 0 ? in.size() > limit : end > limit) {
    status = ParseStatus::kHeaderTooLarge;
    return {};
  }
  return in.substr(0, end);
}

std::optional<StartLine> split_start_line(std::string_view head) {
  const size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) return std::nullopt;
  std::string_view line = head.substr(0, eol);
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return std::nullopt;
  const size_t sp2 = line.find(' ', sp1 + 1);
  StartLine out;
  out.first = line.substr(0, sp1);
  out.second =
      line.substr(sp1 + 1, sp2 == std::string_view::npos ? std::string_view::npos : sp2 - sp1 - 1);
  if (sp2 != std::string_view::npos) out.third = line.substr(sp2 + 1);
  out.fields = head.substr(eol + 2);
  return out;
}

std::string parse_fields(std::string_view fields, Headers& headers, Framing& framing) {
  const char* p = fields.data();
  const char* const end = p + fields.size();
  size_t line_no = 1;  // the start line was line 1
  for (;; ++line_no) {
    if (end - p < 2) return "the head does not end in a blank line";
    if (p[0] == '\r' && p[1] == '\n') return {};
    const auto where = [&] { return " (line " + std::to_string(line_no + 1) + ")"; };
    // The name, lowercased as it is checked; a name too long for `lower` is lowercased again.
    char lower[64];
    const char* q = p + lowercase_name_prefix(p, end, lower, sizeof lower);
    for (char c; q < end && (c = kLowerToken[static_cast<unsigned char>(*q)]) != 0; ++q)
      if (q - p < static_cast<ptrdiff_t>(sizeof lower)) lower[q - p] = c;
    if (q == end || *q != ':') {
      if (q == p && (*p == ' ' || *p == '\t'))
        return "folded header lines are not allowed" + where();
      if (q < end && (*q == '\r' || *q == '\n')) return "header line without a colon" + where();
      return "bad header name" + where();
    }
    if (q == p) return "empty header name" + where();
    std::string_view name(p, static_cast<size_t>(q - p));
    std::string long_name;
    if (name.size() <= sizeof lower) {
      name = std::string_view(lower, name.size());
    } else {
      assign_lowercase(long_name, name);
      name = long_name;
    }
    ++q;
    while (q < end && (*q == ' ' || *q == '\t'))
      ++q;
    const char* const value_begin = q;
    const char* r = find_control(q, end);
    while (r < end && *r == '\t')  // the one control character a value may hold
      r = find_control(r + 1, end);
    if (end - r < 2 || r[0] != '\r' || r[1] != '\n')
      return "control character in a header value" + where();
    const char* value_end = r;
    while (value_end > value_begin && (value_end[-1] == ' ' || value_end[-1] == '\t'))
      --value_end;
    const std::string_view value(value_begin, static_cast<size_t>(value_end - value_begin));
    if (name == "content-length") {
      if (std::string e = read_length(value, framing); !e.empty()) return e + where();
    } else if (name == "transfer-encoding") {
      read_transfer_encoding(value, framing);
    } else if (name == "connection") {
      read_connection(value, framing);
    }
    headers.append(name, value);
    p = r + 2;
  }
}

unsigned parse_version(std::string_view v) {
  if (v == "HTTP/1.1") return 11;
  if (v == "HTTP/1.0") return 10;
  return 0;
}

}  // namespace gf::net
