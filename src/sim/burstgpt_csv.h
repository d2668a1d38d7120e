// Reads BurstGPT traces (HPMLL/BurstGPT: ChatGPT and GPT-4 requests served on Azure): CSV with
// the header Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type.
#pragma once

#include <istream>
#include <string>

#include "common/result.h"
#include "sim/trace_builder.h"

namespace gf {

// Timestamp is in seconds since the collection began (whole or decimal); arrivals count from the
// earliest. Model ("ChatGPT", "GPT-4") becomes the request's model. Total tokens and Log Type are
// not read. Columns are found by name; Model may be absent. BurstGPT_*.csv mark failed requests
// with 0 response tokens: those lines are errors, or skipped when lenient (the
// BurstGPT_without_fails_*.csv files have none).
Result<LoadedTrace> parse_burstgpt_csv(std::istream& in, const std::string& source,
                                       ParseOptions options = {});

}  // namespace gf
