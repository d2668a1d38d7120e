#include "sim/trace_fields.h"

#include <charconv>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace gf {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

Error invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

}  // namespace

Status split_csv_line(std::string_view line, std::deque<std::string>& scratch,
                      std::vector<std::string_view>& fields) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  fields.clear();
  size_t i = 0;
  while (true) {
    if (i < line.size() && line[i] == '"') {
      // A quoted field: runs to the closing quote; "" stands for one quote.
      const size_t start = ++i;
      bool escaped = false;
      while (true) {
        const size_t q = line.find('"', i);
        if (q == std::string_view::npos)
          return invalid(fmt::format("a quote opened at character {} is never closed", start));
        if (q + 1 < line.size() && line[q + 1] == '"') {
          escaped = true;
          i = q + 2;
          continue;
        }
        std::string_view raw = line.substr(start, q - start);
        if (escaped) {
          std::string unquoted;
          for (size_t k = 0; k < raw.size(); ++k) {
            unquoted += raw[k];
            if (raw[k] == '"') ++k;  // skip the second of each ""
          }
          scratch.push_back(std::move(unquoted));
          raw = scratch.back();
        }
        fields.push_back(raw);
        i = q + 1;
        break;
      }
      if (i == line.size()) return {};
      if (line[i] != ',')
        return invalid(fmt::format("unexpected text after a closing quote at character {}", i + 1));
      ++i;
      continue;
    }
    const size_t comma = line.find(',', i);
    if (comma == std::string_view::npos) {
      fields.push_back(line.substr(i));
      return {};
    }
    fields.push_back(line.substr(i, comma - i));
    i = comma + 1;
  }
}

Result<CsvColumns> find_csv_columns(const std::vector<std::string_view>& header,
                                    const std::vector<std::string_view>& required,
                                    const std::vector<std::string_view>& optional) {
  CsvColumns out;
  out.width = header.size();
  std::vector<std::string> missing;
  const auto find = [&](std::string_view name) {
    for (size_t i = 0; i < header.size(); ++i) {
      std::string_view h = header[i];
      // A UTF-8 byte order mark, which spreadsheet exports put first.
      if (i == 0 && h.substr(0, 3) == "\xEF\xBB\xBF") h.remove_prefix(3);
      if (trim(h) == name) return static_cast<int>(i);
    }
    return -1;
  };
  for (std::string_view name : required) {
    const int at = find(name);
    if (at < 0) missing.push_back(fmt::format("\"{}\"", name));
    out.index.push_back(at);
  }
  for (std::string_view name : optional)
    out.index.push_back(find(name));
  if (!missing.empty()) {
    std::vector<std::string> have;
    for (std::string_view h : header)
      have.push_back(fmt::format("\"{}\"", trim(h)));
    return invalid(fmt::format("the header lacks column {}; it has {}", fmt::join(missing, ", "),
                               fmt::join(have, ", ")));
  }
  return out;
}

Result<int64_t> parse_whole_number(std::string_view text) {
  const std::string_view t = trim(text);
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size())
    return invalid(fmt::format("\"{}\" is not a whole number", text));
  return v;
}

Result<Duration> parse_decimal_seconds(std::string_view text) {
  const std::string_view t = trim(text);
  const size_t dot = t.find('.');
  const std::string_view whole = t.substr(0, dot);
  const std::string_view frac =
      dot == std::string_view::npos ? std::string_view{} : t.substr(dot + 1);
  const auto bad = [&] {
    return invalid(fmt::format("\"{}\" is not a time in seconds (like 12 or 12.5)", text));
  };
  if (whole.empty()) return bad();
  int64_t secs = 0;
  const auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), secs);
  if (ec != std::errc() || end != whole.data() + whole.size() || secs < 0) return bad();
  if (secs > std::numeric_limits<int64_t>::max() / 1'000'000'000)
    return invalid(fmt::format("\"{}\" seconds is too far out (past the year 2262)", text));
  int64_t ns = 0, scale = 100'000'000;
  for (char c : frac) {
    if (c < '0' || c > '9') return bad();
    ns += (c - '0') * scale;
    scale /= 10;
  }
  return Duration(secs * 1'000'000'000 + ns);
}

Result<Tokens> parse_token_count(std::string_view text) {
  auto n = parse_whole_number(text);
  if (!n) return n.error();
  if (*n <= 0)
    return invalid(
        fmt::format("{} tokens: a request needs at least 1 prompt and 1 output token", *n));
  return Tokens(*n);
}

std::string csv_field_name(int index, std::string_view header_name) {
  return fmt::format("column {} ({})", index + 1, header_name);
}

}  // namespace gf
