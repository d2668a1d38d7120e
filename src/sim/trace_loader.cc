#include "sim/trace_loader.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "sim/azure_csv.h"
#include "sim/burstgpt_csv.h"
#include "sim/mooncake_jsonl.h"

namespace gf {

Result<TraceFormat> parse_trace_format(std::string_view name) {
  for (TraceFormat f :
       {TraceFormat::kAuto, TraceFormat::kAzure, TraceFormat::kMooncake, TraceFormat::kBurstGpt})
    if (name == to_string(f)) return f;
  return make_error(
      ErrorCode::kInvalidArgument,
      fmt::format("unknown trace format \"{}\": use auto, azure, mooncake or burstgpt", name));
}

const char* to_string(TraceFormat format) {
  switch (format) {
    case TraceFormat::kAuto:
      return "auto";
    case TraceFormat::kAzure:
      return "azure";
    case TraceFormat::kMooncake:
      return "mooncake";
    case TraceFormat::kBurstGpt:
      return "burstgpt";
  }
  return "?";
}

Result<TraceFormat> sniff_trace_format(std::string_view first_line) {
  std::string_view t = first_line;
  // A UTF-8 byte order mark, which spreadsheet exports put first.
  if (t.substr(0, 3) == "\xEF\xBB\xBF") t.remove_prefix(3);
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t'))
    t.remove_prefix(1);
  if (!t.empty() && t.front() == '{') return TraceFormat::kMooncake;
  if (t.find("ContextTokens") != std::string_view::npos) return TraceFormat::kAzure;
  if (t.find("Request tokens") != std::string_view::npos) return TraceFormat::kBurstGpt;
  constexpr size_t kShown = 80;
  return make_error(
      ErrorCode::kInvalidArgument,
      fmt::format("cannot tell the trace format from the first line \"{}{}\": expected an Azure "
                  "header (TIMESTAMP,ContextTokens,GeneratedTokens), a BurstGPT header "
                  "(Timestamp,Model,Request tokens,Response tokens,...) or a JSON object per line "
                  "(Mooncake); name the format (azure, burstgpt, mooncake)",
                  first_line.substr(0, kShown), first_line.size() > kShown ? "..." : ""));
}

Result<LoadedTrace> parse_trace(std::istream& in, const std::string& source,
                                TraceLoadOptions options) {
  TraceFormat format = options.format;
  if (format == TraceFormat::kAuto) {
    const std::istream::pos_type start = in.tellg();
    if (start == std::istream::pos_type(-1))
      return make_error(ErrorCode::kInvalidArgument,
                        source + ": cannot read ahead to tell the format; name the format");
    std::string line;
    while (std::getline(in, line) && (line.empty() || line == "\r")) {
    }
    if (line.empty() || line == "\r")
      return make_error(ErrorCode::kInvalidArgument, source + ": holds no request (it is empty)");
    auto sniffed = sniff_trace_format(line);
    if (!sniffed)
      return make_error(ErrorCode::kInvalidArgument, source + ": " + sniffed.error().message);
    format = *sniffed;
    in.clear();
    in.seekg(start);
  }
  switch (format) {
    case TraceFormat::kAzure:
      return parse_azure_csv(in, source, options.parse);
    case TraceFormat::kMooncake:
      return parse_mooncake_jsonl(in, source, options.parse);
    case TraceFormat::kBurstGpt:
      return parse_burstgpt_csv(in, source, options.parse);
    case TraceFormat::kAuto:
      break;
  }
  return make_error(ErrorCode::kInternal, "no trace format chosen");
}

Result<LoadedTrace> load_trace(const std::string& path, TraceLoadOptions options) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return make_error(ErrorCode::kNotFound,
                      fmt::format("cannot open trace file {}: {}", path, std::strerror(errno)));
  return parse_trace(in, path, options);
}

}  // namespace gf
