#include "gateway/request_id.h"

#include <fmt/format.h>

#include <string_view>

namespace gf {

namespace {

constexpr size_t kMaxLength = 128;

// What may go on to the replica and into logs as it is: no space, quote or control character
// that a log line or a header would have to escape.
bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("-_.:+/=@").find(c) != std::string_view::npos;
}

}  // namespace

Result<std::string> RequestIds::for_request(const net::Headers& headers) {
  int given = 0;
  std::string_view id;
  for (const auto& [name, value] : headers) {
    if (name != "x-request-id") continue;
    ++given;
    id = value;
  }
  if (given == 0) {
    // By hand rather than fmt::format: on every request, and half the cost of the body parse
    // with fmt (docs/performance.md, "Gateway").
    std::string made(32, '0');
    constexpr char kHex[] = "0123456789abcdef";
    const uint64_t halves[2] = {prefix_, ++next_};
    for (int h = 0; h < 2; ++h) {
      for (int i = 0; i < 16; ++i)
        made[h * 16 + i] = kHex[(halves[h] >> (60 - 4 * i)) & 0xf];
    }
    return made;
  }
  auto refuse = [](std::string why) {
    return make_error(ErrorCode::kInvalidArgument, "x-request-id header: " + why);
  };
  if (given > 1) return refuse(fmt::format("given {} times; send one", given));
  if (id.empty()) return refuse("empty; send an id or leave the header out");
  if (id.size() > kMaxLength) {
    return refuse(fmt::format("{} characters; at most {}", id.size(), kMaxLength));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    if (!id_char(id[i])) {
      return refuse(
          fmt::format("character {} (byte 0x{:02x}) is not a letter, a digit or one of -_.:+/=@",
                      i + 1, static_cast<unsigned char>(id[i])));
    }
  }
  return std::string(id);
}

}  // namespace gf
