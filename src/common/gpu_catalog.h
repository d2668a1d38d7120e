// The GPU models gpufleet knows: the catalogue name manifests, the price table and the perf model
// use ("H100-80GB"), the product names NVML reports for it ("NVIDIA H100 80GB HBM3"), and the
// datasheet figures the perf model derives latency from for GPUs without a measured profile.
// Pure data; sources and lookup rules in docs/gpu-catalog.md.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/units.h"

namespace gf {

struct GpuHardware {
  std::string name;                   // catalogue name, "<model>-<memory>GB"
  std::vector<std::string> products;  // NVML product names, as nvmlDeviceGetName reports them
  MiB memory{0};                      // nominal ("80GB" cards hold 80 GiB)
  double memory_bandwidth_gbs = 0;    // HBM/GDDR bandwidth, GB/s (datasheet)
  double bf16_dense_tflops = 0;       // dense BF16 tensor throughput, TFLOPS (no sparsity)
};

// Every known model, in a stable order.
const std::vector<GpuHardware>& gpu_hardware();

// The entry whose catalogue name or product name is `name` (case-insensitive; "_" and " " read
// as "-" in catalogue names, and a leading "NVIDIA " is optional). Where one product name covers
// two memory sizes ("NVIDIA A100-PCIE-40GB" vs 80GB parts named alike on some drivers), `memory`
// (what the GPU reports) picks the nearer one. A family name ("L4", "A100") is the catalogue name
// without "-<memory>GB": it names a model when the family has one size or `memory` picks one.
// nullptr when unknown.
const GpuHardware* find_gpu_hardware(std::string_view name,
                                     std::optional<MiB> memory = std::nullopt);

// The catalogue name for what NVML (or a manifest) calls the GPU (or MIG device: see below), or
// `name` itself when it is not in the catalogue (then it matches only manifests that use that very
// name).
std::string catalogue_gpu_name(std::string_view name, std::optional<MiB> memory = std::nullopt);

// ---- MIG ----------------------------------------------------------------------------------

// A100, H100, H200 and B200 divide into 7 compute slices; a profile takes some of them.
inline constexpr int kMigComputeSlices = 7;

// A MIG profile as NVIDIA names it: "3g.40gb" is 3 of the 7 compute slices and 40 GB of memory.
struct MigProfile {
  int compute_slices = 0;
  MiB memory{0};  // nominal, as the name says ("40gb" is 40 GiB)
};
// nullopt when `profile` is not of the form "<N>g.<M>gb" with 1 <= N <= 7 and M >= 1.
std::optional<MigProfile> parse_mig_profile(std::string_view profile);

// A MIG device's catalogue name is its parent's plus the profile: "A100-80GB-MIG-3g.40gb". NVML
// names the device "NVIDIA A100-SXM4-80GB MIG 3g.40gb"; both read the same.
struct MigName {
  const GpuHardware* parent = nullptr;
  std::string profile;  // "3g.40gb"
  MigProfile shape;
};
// nullopt when `name` is no MIG device of a catalogue GPU.
std::optional<MigName> parse_mig_name(std::string_view name);
std::string mig_catalogue_name(const GpuHardware& parent, std::string_view profile);

}  // namespace gf
