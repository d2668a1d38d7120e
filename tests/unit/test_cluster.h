// Small cluster builders shared by the pool and placement tests.
#pragma once

#include <string>
#include <vector>

#include "common/spec.h"
#include "pool/allocation.h"

namespace gf::testing {

inline NodeSpec node(const std::string& name, const std::string& model, int count, int64_t mem_gib,
                     std::vector<std::vector<int>> nvlink = {}, double price = 1.0) {
  NodeSpec n;
  n.name = name;
  n.gpus.push_back(GpuGroupSpec{model, count, MiB(mem_gib * 1024), price, {}});
  n.nvlink_groups = std::move(nvlink);
  return n;
}

inline std::vector<int> all(int count) {
  std::vector<int> v;
  for (int i = 0; i < count; ++i)
    v.push_back(i);
  return v;
}

inline AllocationRequest whole(int gpus, int priority = 0, std::vector<std::string> models = {}) {
  AllocationRequest r;
  r.deployment = "d";
  r.model = "m";
  r.gpus = gpus;
  r.priority = priority;
  r.gpu_models = std::move(models);
  return r;
}

inline AllocationRequest share(int64_t mem_gib, int priority = 0) {
  AllocationRequest r;
  r.deployment = "s";
  r.model = "small";
  r.memory_per_gpu = MiB(mem_gib * 1024);
  r.priority = priority;
  return r;
}

}  // namespace gf::testing
