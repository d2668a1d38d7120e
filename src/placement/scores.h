// The Score plugins that look at load, price and history. Each answers one question in [0, 100];
// the scheduler adds them with the configured weights. (Topology's is in topology_score.h.)
#pragma once

#include <map>
#include <string>

#include "common/spec.h"
#include "placement/plugin.h"

namespace gf {

// Fill what is already partly used, so whole nodes and NVLink groups stay free for large requests.
class BinPackScore final : public ScorePlugin {
 public:
  std::string_view name() const override { return "binpack"; }
  void score(const PlacementContext& ctx, std::span<const Candidate> c,
             std::span<int64_t> out) const override;
};

// The opposite: least-used first, to spread load and blast radius.
class SpreadScore final : public ScorePlugin {
 public:
  std::string_view name() const override { return "spread"; }
  void score(const PlacementContext& ctx, std::span<const Candidate> c,
             std::span<int64_t> out) const override;
};

// Cheapest price per unit of serving capacity. Capacity hints are relative throughputs per GPU
// model (H100 ~ 2x A100 for decode-bound LLM serving); unknown models count as 1.
class CostEfficiencyScore final : public ScorePlugin {
 public:
  explicit CostEfficiencyScore(std::map<std::string, double> capacity_hints)
      : hints_(std::move(capacity_hints)) {}
  explicit CostEfficiencyScore(const PlacementSpec& spec)
      : CostEfficiencyScore(spec.capacity_hints) {}
  std::string_view name() const override { return "cost-efficiency"; }
  void score(const PlacementContext& ctx, std::span<const Candidate> c,
             std::span<int64_t> out) const override;

 private:
  std::map<std::string, double> hints_;
};

// A node that already serves the model likely has its weights in page cache: faster cold start.
class WarmAffinityScore final : public ScorePlugin {
 public:
  std::string_view name() const override { return "warm-affinity"; }
  void score(const PlacementContext& ctx, std::span<const Candidate> c,
             std::span<int64_t> out) const override;
};

// Earlier entries of the request's gpuModels list score higher.
class ModelPreferenceScore final : public ScorePlugin {
 public:
  std::string_view name() const override { return "model-preference"; }
  void score(const PlacementContext& ctx, std::span<const Candidate> c,
             std::span<int64_t> out) const override;
};

}  // namespace gf
