// power-of-two: of two distinct replicas drawn at random, the less loaded per unit of speed
// (Mitzenmacher's "power of two choices"). Nearly as balanced as least-outstanding, but two reads
// instead of a scan,
// and several gateways acting on slightly stale counts do not all rush the same replica.
#pragma once

#include "common/rng.h"
#include "routing/policy.h"

namespace gf {

class PowerOfTwoPolicy final : public Policy {
 public:
  // The generator is owned and seeded: the same seed gives the same choices, in tests and in
  // the simulator.
  explicit PowerOfTwoPolicy(uint64_t seed) : rng_(seed) {}
  explicit PowerOfTwoPolicy(const PolicyConfig& config) : PowerOfTwoPolicy(config.seed) {}
  std::string_view name() const override { return "power-of-two"; }
  Choice pick(const RouteRequest& request, std::span<const ReplicaView* const> candidates) override;

 private:
  Rng rng_;
};

}  // namespace gf
