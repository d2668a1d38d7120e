#include "perfmodel/gpu_memory.h"

#include <charconv>

namespace gf {

MiB gpu_memory_from_name(std::string_view gpu) {
  constexpr int64_t kDefaultGiB = 80;
  int64_t gib = kDefaultGiB;
  if (auto pos = gpu.find_last_of('-'); pos != std::string_view::npos) {
    const std::string_view tail = gpu.substr(pos + 1);
    if (tail.size() > 2 && (tail.ends_with("GB") || tail.ends_with("gb"))) {
      // Leading digits only, as atoi read them: "80GB" -> 80; no digits leaves the default.
      std::from_chars(tail.data(), tail.data() + tail.size(), gib);
    }
    if (gib <= 0) gib = kDefaultGiB;
  }
  return MiB(gib * 1024);
}

}  // namespace gf
