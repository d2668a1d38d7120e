// Loads a request trace file in any format the simulator reads, telling the format from the
// file's first line unless the caller names it.
#pragma once

#include <istream>
#include <string>
#include <string_view>

#include "common/result.h"
#include "sim/trace_builder.h"

namespace gf {

enum class TraceFormat {
  kAuto,      // told from the first line
  kAzure,     // Azure LLM inference CSV (azure_csv.h)
  kMooncake,  // Mooncake JSON Lines (mooncake_jsonl.h)
  kBurstGpt,  // BurstGPT CSV (burstgpt_csv.h)
};

// "auto", "azure", "mooncake", "burstgpt"; an unknown name is an error listing these.
Result<TraceFormat> parse_trace_format(std::string_view name);
const char* to_string(TraceFormat format);

// The format a trace's first non-empty line says: '{' starts a Mooncake line; a CSV header with
// ContextTokens is Azure's, one with "Request tokens" BurstGPT's. Anything else is an error that
// shows the line and asks for an explicit format.
Result<TraceFormat> sniff_trace_format(std::string_view first_line);

struct TraceLoadOptions {
  TraceFormat format = TraceFormat::kAuto;
  ParseOptions parse;
};

// Parses a trace from a stream; `source` names it in messages and gives the trace its name.
// kAuto reads the first line and seeks back, so it needs a seekable stream (files and string
// streams are).
Result<LoadedTrace> parse_trace(std::istream& in, const std::string& source,
                                TraceLoadOptions options = {});

// Opens and parses a trace file. A missing or unreadable file is an error naming it.
Result<LoadedTrace> load_trace(const std::string& path, TraceLoadOptions options = {});

}  // namespace gf
