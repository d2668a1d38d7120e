#include "sim/burstgpt_csv.h"

#include <fmt/format.h>

#include "sim/trace_fields.h"

namespace gf {

namespace {

// Required columns first, then the optional Model.
constexpr std::string_view kNames[] = {"Timestamp", "Request tokens", "Response tokens", "Model"};

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
  auto at = parse_decimal_seconds(field(0));
  if (!at) return named(0, at.error());
  auto prompt = parse_token_count(field(1));
  if (!prompt) return named(1, prompt.error());
  auto output = parse_token_count(field(2));
  if (!output) return named(2, output.error());
  r.arrival = *at;
  r.prompt = *prompt;
  r.output = *output;
  if (cols.index[3] >= 0) r.model = std::string(field(3));
  return r;
}

}  // namespace

Result<LoadedTrace> parse_burstgpt_csv(std::istream& in, const std::string& source,
                                       ParseOptions options) {
  TraceBuilder builder(source, options);
  std::string line;
  std::deque<std::string> scratch;
  std::vector<std::string_view> fields;  // one for every line: no allocation per line
  int64_t line_no = 0;

  CsvColumns cols;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line == "\r") continue;
    if (Status s = split_csv_line(line, scratch, fields); !s)
      return builder.fail(line_no, s.error().message);
    auto found = find_csv_columns(fields, {kNames[0], kNames[1], kNames[2]}, {kNames[3]});
    if (!found) return builder.fail(line_no, "not a BurstGPT trace: " + found.error().message);
    cols = std::move(*found);
    break;
  }
  if (cols.index.empty()) return builder.fail(0, "is empty: expected a BurstGPT header");

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
