// The GPU-level Filter plugins: health, model, memory. (Topology judges nodes, in
// topology_filter.h, and tenant quota whole requests, in tenant_quota_filter.h: neither is a
// property of one GPU.)
#pragma once

#include "placement/plugin.h"

namespace gf {

// Faulty, Probation, Lost, Cordoned and Draining GPUs take nothing; Reserved ones only when the
// request allows it.
class HealthFilter final : public GpuFilter {
 public:
  std::string_view name() const override { return "health"; }
  const char* filter(const PlacementContext& ctx, const GpuView& gpu) const override;
};

// The GPU's model is one the request accepts, and a MIG device (UUID "MIG-...") serves only
// single-GPU requests.
class ModelFilter final : public GpuFilter {
 public:
  std::string_view name() const override { return "model"; }
  const char* filter(const PlacementContext& ctx, const GpuView& gpu) const override;
};

// Whole GPUs must be empty; shares need free memory, compute and a free share slot.
class MemoryFilter final : public GpuFilter {
 public:
  std::string_view name() const override { return "memory"; }
  const char* filter(const PlacementContext& ctx, const GpuView& gpu) const override;
};

}  // namespace gf
