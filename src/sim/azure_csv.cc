#include "sim/azure_csv.h"

#include <chrono>

#include <fmt/format.h>

#include "sim/trace_fields.h"

namespace gf {

namespace {

// Exactly `n` digits at `at` as a number, or -1.
int digits(std::string_view s, size_t at, size_t n) {
  if (at + n > s.size()) return -1;
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

constexpr std::string_view kNames[] = {"TIMESTAMP", "ContextTokens", "GeneratedTokens"};

}  // namespace

Result<Duration> parse_azure_timestamp(std::string_view text) {
  std::string_view t = text;
  while (!t.empty() && (t.back() == ' ' || t.back() == '\r'))
    t.remove_suffix(1);
  while (!t.empty() && t.front() == ' ')
    t.remove_prefix(1);
  const auto bad = [&](std::string_view why) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("\"{}\" is not a time like 2023-11-16 18:15:46.6805900: {}", text, why));
  };
  // YYYY-MM-DD HH:MM:SS, then an optional fraction.
  const int year = digits(t, 0, 4), month = digits(t, 5, 2), day = digits(t, 8, 2);
  const int hour = digits(t, 11, 2), minute = digits(t, 14, 2), second = digits(t, 17, 2);
  if (t.size() < 19 || year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 ||
      t[4] != '-' || t[7] != '-' || (t[10] != ' ' && t[10] != 'T') || t[13] != ':' || t[16] != ':')
    return bad("expected YYYY-MM-DD HH:MM:SS");
  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return bad("no such date");
  if (hour > 23 || minute > 59 || second > 59) return bad("no such time of day");
  int64_t ns = 0;
  if (t.size() > 19) {
    if (t[19] != '.' || t.size() == 20) return bad("expected a fraction of a second after '.'");
    const std::string_view frac = t.substr(20);
    if (frac.size() > 9) return bad("more than 9 fractional digits");
    int64_t scale = 100'000'000;
    for (char c : frac) {
      if (c < '0' || c > '9') return bad("the fraction of a second is not all digits");
      ns += (c - '0') * scale;
      scale /= 10;
    }
  }
  const auto since_epoch = std::chrono::sys_days(date).time_since_epoch() +
                           std::chrono::hours(hour) + std::chrono::minutes(minute) +
                           std::chrono::seconds(second);
  return std::chrono::duration_cast<Duration>(since_epoch) + Duration(ns);
}

namespace {

// One data line as a request; the error names the column.
Result<TraceRequest> parse_row(std::string_view line, const CsvColumns& cols,
                               std::deque<std::string>& scratch,
                               std::vector<std::string_view>& fields) {
  if (Status s = split_csv_line(line, scratch, fields); !s) return s.error();
  if (fields.size() != cols.width)
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("expected {} fields like the header, got {}", cols.width, fields.size()));
  const auto field = [&](int k) { return fields[static_cast<size_t>(cols.index[k])]; };
  const auto named = [&](int k, const Error& e) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{}: {}", csv_field_name(cols.index[k], kNames[k]), e.message));
  };
  TraceRequest r;
  auto at = parse_azure_timestamp(field(0));
  if (!at) return named(0, at.error());
  auto prompt = parse_token_count(field(1));
  if (!prompt) return named(1, prompt.error());
  auto output = parse_token_count(field(2));
  if (!output) return named(2, output.error());
  r.arrival = *at;
  r.prompt = *prompt;
  r.output = *output;
  return r;
}

}  // namespace

Result<LoadedTrace> parse_azure_csv(std::istream& in, const std::string& source,
                                    ParseOptions options) {
  TraceBuilder builder(source, options);
  std::string line;
  std::deque<std::string> scratch;
  std::vector<std::string_view> fields;  // one for every line: no allocation per line
  int64_t line_no = 0;

  // The header: the first non-empty line.
  CsvColumns cols;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line == "\r") continue;
    if (Status s = split_csv_line(line, scratch, fields); !s)
      return builder.fail(line_no, s.error().message);
    auto found = find_csv_columns(fields, {kNames[0], kNames[1], kNames[2]});
    if (!found)
      return builder.fail(line_no, "not an Azure LLM inference trace: " + found.error().message);
    cols = std::move(*found);
    break;
  }
  if (cols.index.empty()) return builder.fail(0, "is empty: expected an Azure trace header");

  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line == "\r") continue;
    scratch.clear();
    auto request = parse_row(line, cols, scratch, fields);
    if (!request) {
      if (auto e = builder.reject(line_no, request.error().message)) return *e;
      continue;
    }
    builder.add(std::move(*request));
  }
  if (in.bad()) return builder.fail(line_no, "could not be read to the end");
  return std::move(builder).finish();
}

}  // namespace gf
