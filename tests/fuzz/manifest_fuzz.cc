// libFuzzer target: the manifest parser must turn any input into specs or diagnostics, never a
// crash, hang or sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "autoscale/policy_registry.h"
#include "common/io/manifest.h"
#include "placement/placement_names.h"
#include "routing/policy_registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const gf::ExtensionNames kNames{gf::placement_names(), gf::policy_names(),
                                         gf::scaling_policy_names()};
  std::string_view text(reinterpret_cast<const char*>(data), size);
  gf::ParsedManifests r = gf::parse_manifests(text, "fuzz.yaml", kNames);
  for (const auto& d : r.diagnostics)
    (void)d.format();
  return 0;
}
