// The architectures and GPU models the performance model knows, and the names it accepts for
// them. Pure data.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/units.h"
#include "perfmodel/perf_model.h"

namespace gf {

struct GpuSpec {
  std::string name;  // canonical, as gpufleet's pool names it
  MiB memory;
};

// Canonical architectures, in a stable order.
const std::vector<ModelArch>& model_catalog();
const std::vector<GpuSpec>& gpu_catalog();

// The entry for a Hugging Face name or a short alias, compared case-insensitively
// ("meta-llama/Llama-2-70b-hf", "llama-2-70b", "llama2-70b"); nullptr when unknown.
const ModelArch* find_model(std::string_view name);
// The measured GPU named "A100-80GB", "a100-80gb", "A100_80GB", "nvidia a100-80gb" or by its
// NVML product name ("NVIDIA A100-SXM4-80GB"); nullptr for others (common/gpu_catalog.h has
// every known GPU, measured or not).
const GpuSpec* find_gpu(std::string_view name);

}  // namespace gf
