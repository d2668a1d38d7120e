#include "perfmodel/gpu_memory.h"

#include <charconv>

#include "common/gpu_catalog.h"

namespace gf {

MiB gpu_memory_from_name(std::string_view gpu) {
  // A catalogue GPU has its size on record ("L40S" is 48 GiB though its name does not say).
  if (const GpuHardware* hw = find_gpu_hardware(gpu)) return hw->memory;
  if (auto mig = parse_mig_name(gpu)) return mig->shape.memory;  // "A100-80GB-MIG-3g.40gb": 40
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
