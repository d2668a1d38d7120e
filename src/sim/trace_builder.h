// Collects the requests a trace file's parser reads, line by line, and decides what a bad line
// does: stop the load with an error naming file and line, or (lenient) skip it and count it. Then
// sorts by arrival and starts the trace at its first request. Shared by every trace format.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "sim/trace.h"

namespace gf {

struct ParseOptions {
  // Skip (and count) malformed lines instead of stopping at the first with an error.
  bool lenient = false;
};

// A trace as loaded, with what the load had to do to it.
struct LoadedTrace {
  Trace trace;
  size_t skipped_lines = 0;  // malformed lines skipped (lenient only)
  // The first few skipped lines' problems ("azure.csv:12: column 2 (ContextTokens): ..."), so a
  // user can see why without rerunning strictly.
  std::vector<std::string> skipped_examples;
  bool sorted_on_load = false;  // the file was not in arrival order; requests were stably sorted

  // "loaded 19366 requests of azure_llm_2023_conv", plus a clause on skips and one on sorting.
  std::string note() const;
};

class TraceBuilder {
 public:
  static constexpr size_t kSkippedExamples = 5;

  // `source` names the input in messages (a file path, or "<inline>").
  TraceBuilder(std::string source, ParseOptions options);

  const std::string& source() const { return source_; }

  // A request read from the input; its arrival is on the file's own clock, which finish()
  // moves so the first request arrives at 0.
  void add(TraceRequest request) { requests_.push_back(std::move(request)); }

  // Line `line` could not be read because of `problem` (a phrase naming the column or field).
  // Strict: returns the error to stop the load with. Lenient: counts it and returns nothing.
  std::optional<Error> reject(int64_t line, const std::string& problem);

  // An error about the input as a whole (no header, unreadable), never skipped; `line` 0 names
  // no line.
  Error fail(int64_t line, const std::string& problem) const;

  // Sorts (stably, noting it), moves arrivals so the earliest is 0, and names the trace after the
  // source's file stem. An input with no request left is an error.
  Result<LoadedTrace> finish() &&;

 private:
  std::string source_;
  ParseOptions options_;
  std::vector<TraceRequest> requests_;
  size_t skipped_ = 0;
  std::vector<std::string> examples_;
};

// "traces/azure_llm_2023_conv.csv" -> "azure_llm_2023_conv".
std::string trace_name_of(const std::string& source);

}  // namespace gf
