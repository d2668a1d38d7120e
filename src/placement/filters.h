// The Filter plugins: health, model, memory. (Topology is judged per node by the GPU picker and
// tenant quota per request, since neither is a property of one GPU.)
#pragma once

#include "placement/plugin.h"

namespace gf {

// Faulty, Probation, Lost, Cordoned and Draining GPUs take nothing; Reserved ones only when the
// request allows it.
class HealthFilter final : public FilterPlugin {
 public:
  std::string_view name() const override { return "health"; }
  const char* filter(const PlacementContext& ctx, const GpuView& gpu) const override;
};

// The GPU's model is one the request accepts.
class ModelFilter final : public FilterPlugin {
 public:
  std::string_view name() const override { return "model"; }
  const char* filter(const PlacementContext& ctx, const GpuView& gpu) const override;
};

// Whole GPUs must be empty; shares need free memory, compute and a free share slot.
class MemoryFilter final : public FilterPlugin {
 public:
  std::string_view name() const override { return "memory"; }
  const char* filter(const PlacementContext& ctx, const GpuView& gpu) const override;
};

}  // namespace gf
