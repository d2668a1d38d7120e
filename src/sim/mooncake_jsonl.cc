#include "sim/mooncake_jsonl.h"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace gf {

namespace {

using nlohmann::json;

Error invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

Result<Tokens> token_field(const json& j, const char* name) {
  const auto it = j.find(name);
  if (it == j.end()) return invalid(fmt::format("field {}: missing", name));
  if (!it->is_number_integer())
    return invalid(
        fmt::format("field {}: expected a whole number of tokens, got {}", name, it->dump()));
  const int64_t n = it->get<int64_t>();
  if (n <= 0)
    return invalid(fmt::format(
        "field {}: {} tokens: a request needs at least 1 prompt and 1 output token", name, n));
  return Tokens(n);
}

Result<TraceRequest> parse_line(const std::string& line) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::parse_error& e) {
    // e.byte is the 1-based character where the parser gave up; what() ends with its reason
    // ("syntax error while parsing object - unexpected string literal; expected '}'").
    const std::string what = e.what();
    const size_t at = what.find(": ", what.find("column"));
    return invalid(fmt::format("column {}: not valid JSON: {}", e.byte,
                               at == std::string::npos ? what : what.substr(at + 2)));
  }
  if (!j.is_object()) return invalid("expected a JSON object per line");

  TraceRequest r;
  const auto ts = j.find("timestamp");
  if (ts == j.end()) return invalid("field timestamp: missing");
  if (ts->is_number_integer()) {
    const int64_t ms = ts->get<int64_t>();
    if (ms < 0)
      return invalid(fmt::format("field timestamp: {} ms is before the trace starts", ms));
    r.arrival = std::chrono::milliseconds(ms);
  } else if (ts->is_number_float()) {
    const double ms = ts->get<double>();
    if (!(ms >= 0) || !std::isfinite(ms))
      return invalid(
          fmt::format("field timestamp: {} ms is not a time since the trace's start", ts->dump()));
    r.arrival = Duration(std::llround(ms * 1e6));
  } else {
    return invalid(fmt::format("field timestamp: expected milliseconds, got {}", ts->dump()));
  }

  auto prompt = token_field(j, "input_length");
  if (!prompt) return prompt.error();
  auto output = token_field(j, "output_length");
  if (!output) return output.error();
  r.prompt = *prompt;
  r.output = *output;

  if (const auto ids = j.find("hash_ids"); ids != j.end()) {
    if (!ids->is_array()) return invalid("field hash_ids: expected a list of block ids");
    r.prefix_blocks.reserve(ids->size());
    for (size_t i = 0; i < ids->size(); ++i) {
      const json& id = (*ids)[i];
      if (!id.is_number_unsigned() && !(id.is_number_integer() && id.get<int64_t>() >= 0))
        return invalid(
            fmt::format("field hash_ids[{}]: expected a block id (a whole number >= "
                        "0), got {}",
                        i, id.dump()));
      r.prefix_blocks.push_back(id.get<uint64_t>());
    }
  }
  return r;
}

}  // namespace

Result<LoadedTrace> parse_mooncake_jsonl(std::istream& in, const std::string& source,
                                         ParseOptions options) {
  TraceBuilder builder(source, options);
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line == "\r") continue;
    auto request = parse_line(line);
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
