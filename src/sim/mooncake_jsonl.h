// Reads the Mooncake traces (kvcache-ai/Mooncake FAST'25 release, Apache-2.0): JSON Lines, one
// request per line with timestamp (ms), input_length, output_length and hash_ids.
#pragma once

#include <istream>
#include <string>

#include "common/result.h"
#include "sim/trace_builder.h"

namespace gf {

// `timestamp` is milliseconds since the trace's start (a whole or fractional number, >= 0);
// `hash_ids`, chained ids of 512-token prefix blocks, becomes prefix_blocks and may be absent.
// Other fields are ignored. A line that is not such an object is an error naming the line and
// the field (or the character where the JSON breaks).
Result<LoadedTrace> parse_mooncake_jsonl(std::istream& in, const std::string& source,
                                         ParseOptions options = {});

}  // namespace gf
