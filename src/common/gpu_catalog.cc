#include "common/gpu_catalog.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace gf {
namespace {

// Lower case, with "_" and " " as "-", and without a leading "nvidia-": the form both kinds of
// name are compared in.
std::string key_of(std::string_view name) {
  std::string k;
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '_' || c == ' ') c = '-';
    k += c;
  }
  while (!k.empty() && k.back() == '-')
    k.pop_back();
  constexpr std::string_view kVendor = "nvidia-";
  if (k.rfind(kVendor, 0) == 0) k.erase(0, kVendor.size());
  return k;
}

constexpr MiB gib(int64_t n) {
  return MiB(n * 1024);
}

}  // namespace

const std::vector<GpuHardware>& gpu_hardware() {
  // Bandwidth and dense BF16 throughput from NVIDIA's datasheets (SXM parts where a model has
  // several; docs/gpu-catalog.md lists them). Product names as NVML reports them; the H200's and
  // the H100's were read from real GPUs (../shared/reference/real-gpu-check.md).
  static const std::vector<GpuHardware> kGpus = {
      {"A100-40GB", {"NVIDIA A100-SXM4-40GB", "NVIDIA A100-PCIE-40GB"}, gib(40), 1555, 312},
      {"A100-80GB",
       {"NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe", "NVIDIA A100-SXM-80GB"},
       gib(80),
       2039,
       312},
      {"H100-80GB", {"NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe"}, gib(80), 3350, 989},
      {"H100-94GB", {"NVIDIA H100 NVL"}, gib(94), 3900, 835},
      {"H200-141GB", {"NVIDIA H200", "NVIDIA H200 NVL"}, gib(141), 4800, 989},
      {"B200-180GB", {"NVIDIA B200"}, gib(180), 8000, 2250},
      {"L40S-48GB", {"NVIDIA L40S"}, gib(48), 864, 362},
      {"L4-24GB", {"NVIDIA L4"}, gib(24), 300, 121},
      {"A10G-24GB", {"NVIDIA A10G"}, gib(24), 600, 70},
  };
  return kGpus;
}

const GpuHardware* find_gpu_hardware(std::string_view name, std::optional<MiB> memory) {
  const std::string key = key_of(name);
  if (key.empty()) return nullptr;
  // The nearest in memory among the entries `matches` accepts; without a memory, the first.
  auto nearest = [&](auto&& matches) -> const GpuHardware* {
    const GpuHardware* best = nullptr;
    int64_t best_gap = 0;
    for (const GpuHardware& g : gpu_hardware()) {
      if (!matches(g)) continue;
      const int64_t gap = memory ? std::llabs(memory->value - g.memory.value) : 0;
      if (best == nullptr || gap < best_gap) {
        best = &g;
        best_gap = gap;
      }
    }
    return best;
  };
  if (const GpuHardware* g = nearest([&](const GpuHardware& g) {
        return key_of(g.name) == key ||
               std::any_of(g.products.begin(), g.products.end(),
                           [&](const auto& p) { return key_of(p) == key; });
      }))
    return g;
  // A bare family name ("L4", "H100"): the catalogue name without its "-<memory>GB". It names
  // one model when the family has one size, or when the GPU's memory picks one; "H100" alone
  // names none, since the 80 and 94 GB parts differ in bandwidth.
  auto family = [&](const GpuHardware& g) { return key_of(g.name.substr(0, g.name.rfind('-'))); };
  const auto members = std::count_if(gpu_hardware().begin(), gpu_hardware().end(),
                                     [&](const GpuHardware& g) { return family(g) == key; });
  if (members == 1 || (members > 1 && memory))
    return nearest([&](const GpuHardware& g) { return family(g) == key; });
  return nullptr;
}

std::string catalogue_gpu_name(std::string_view name, std::optional<MiB> memory) {
  if (auto mig = parse_mig_name(name)) return mig_catalogue_name(*mig->parent, mig->profile);
  const GpuHardware* g = find_gpu_hardware(name, memory);
  return g != nullptr ? g->name : std::string(name);
}

std::optional<MigProfile> parse_mig_profile(std::string_view profile) {
  const std::string k = key_of(profile);
  int slices = 0;
  int gb = 0;
  char tail[3] = {};
  // "3g.40gb": digits, "g.", digits, "gb", nothing after.
  if (std::sscanf(k.c_str(), "%dg.%d%2s", &slices, &gb, tail) != 3 || std::string(tail) != "gb")
    return std::nullopt;
  const std::string canonical = std::to_string(slices) + "g." + std::to_string(gb) + "gb";
  if (canonical != k || slices < 1 || slices > kMigComputeSlices || gb < 1) return std::nullopt;
  return MigProfile{slices, gib(gb)};
}

std::optional<MigName> parse_mig_name(std::string_view name) {
  const std::string k = key_of(name);
  const auto at = k.rfind("-mig-");
  if (at == std::string::npos) return std::nullopt;
  const GpuHardware* parent = find_gpu_hardware(k.substr(0, at));
  auto shape = parse_mig_profile(k.substr(at + 5));
  if (parent == nullptr || !shape) return std::nullopt;
  return MigName{parent, k.substr(at + 5), *shape};
}

std::string mig_catalogue_name(const GpuHardware& parent, std::string_view profile) {
  return parent.name + "-MIG-" + std::string(profile);
}

}  // namespace gf
