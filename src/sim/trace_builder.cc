#include "sim/trace_builder.h"

#include <algorithm>

#include <fmt/format.h>

namespace gf {

std::string LoadedTrace::note() const {
  std::string s = fmt::format("loaded {} requests of {}", trace.requests.size(), trace.name);
  if (skipped_lines > 0) {
    s += fmt::format("; skipped {} malformed line{}", skipped_lines, skipped_lines == 1 ? "" : "s");
    if (!skipped_examples.empty()) s += fmt::format(" (first: {})", skipped_examples.front());
  }
  if (sorted_on_load) s += "; the file was not in arrival order, so its requests were sorted";
  return s;
}

TraceBuilder::TraceBuilder(std::string source, ParseOptions options)
    : source_(std::move(source)), options_(options) {}

Error TraceBuilder::fail(int64_t line, const std::string& problem) const {
  if (line <= 0) return make_error(ErrorCode::kInvalidArgument, source_ + ": " + problem);
  return make_error(ErrorCode::kInvalidArgument, fmt::format("{}:{}: {}", source_, line, problem));
}

std::optional<Error> TraceBuilder::reject(int64_t line, const std::string& problem) {
  Error e = fail(line, problem);
  if (!options_.lenient) {
    e.message += " (a lenient load skips malformed lines)";
    return e;
  }
  ++skipped_;
  if (examples_.size() < kSkippedExamples) examples_.push_back(std::move(e.message));
  return std::nullopt;
}

Result<LoadedTrace> TraceBuilder::finish() && {
  if (requests_.empty()) {
    return fail(0, skipped_ > 0 ? fmt::format("no request left: every data line ({}) was malformed "
                                              "(first: {})",
                                              skipped_, examples_.front())
                                : std::string("holds no request"));
  }
  LoadedTrace out;
  out.sorted_on_load = sort_by_arrival(requests_);
  // A trace starts at its first request: Azure's timestamps are wall-clock dates and BurstGPT's
  // count from its collection's start, while the simulator's virtual time starts at 0.
  const Duration origin = requests_.front().arrival;
  for (TraceRequest& r : requests_)
    r.arrival -= origin;
  out.trace.name = trace_name_of(source_);
  out.trace.requests = std::move(requests_);
  out.skipped_lines = skipped_;
  out.skipped_examples = std::move(examples_);
  return out;
}

std::string trace_name_of(const std::string& source) {
  const size_t slash = source.find_last_of('/');
  std::string name = slash == std::string::npos ? source : source.substr(slash + 1);
  const size_t dot = name.find('.');
  if (dot != std::string::npos && dot > 0) name.resize(dot);
  return name;
}

}  // namespace gf
