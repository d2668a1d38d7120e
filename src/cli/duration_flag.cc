#include "cli/duration_flag.h"

namespace gf {

Result<Duration> duration_flag(std::string_view flag, const std::string& text, Duration min) {
  auto d = parse_duration(text);
  if (!d)
    return make_error(ErrorCode::kInvalidArgument, std::string(flag) + ": " + d.error().message);
  if (*d < min) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(flag) + ": must be at least " + format_duration(min));
  }
  return *d;
}

}  // namespace gf
