// Reads the Azure LLM inference traces (Azure/AzurePublicDataset, CC-BY-4.0; the Splitwise
// paper's trace): CSV with a header naming TIMESTAMP, ContextTokens and GeneratedTokens.
#pragma once

#include <istream>
#include <string>
#include <string_view>

#include "common/result.h"
#include "sim/trace_builder.h"

namespace gf {

// Columns are found by name, so their order does not matter and extra columns are ignored.
// Arrivals count from the earliest timestamp. `source` names the input in messages and the trace.
Result<LoadedTrace> parse_azure_csv(std::istream& in, const std::string& source,
                                    ParseOptions options = {});

// "2023-11-16 18:15:46.6805900" (0 to 9 fractional digits; the traces have 7, i.e. 100 ns) as the
// time since 1970-01-01 00:00:00 of the same (unstated) zone: only differences matter.
Result<Duration> parse_azure_timestamp(std::string_view text);

}  // namespace gf
