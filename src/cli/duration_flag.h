// Duration command-line flags, checked against a lower bound, with errors that name the flag.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "common/units.h"

namespace gf {

// "--node-lease: must be at least 100ms", or the parser's own message for bad text.
Result<Duration> duration_flag(std::string_view flag, const std::string& text, Duration min);

}  // namespace gf
