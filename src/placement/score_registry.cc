#include "placement/score_registry.h"

#include "placement/plugin_factory.h"
#include "placement/replica_spread_score.h"
#include "placement/scores.h"
#include "placement/topology_score.h"

namespace gf {
namespace {

template <class Plugin>
constexpr ScoreFactory make = &make_plugin<ScorePlugin, Plugin>;

}  // namespace

const PluginRegistry<ScoreFactory>& placement_scores() {
  static const PluginRegistry<ScoreFactory> registry(
      "placement score", {
                             {"binpack", make<BinPackScore>},
                             {"spread", make<SpreadScore>},
                             {"replica-spread", make<ReplicaSpreadScore>},
                             {"cost-efficiency", make<CostEfficiencyScore>},
                             {"warm-affinity", make<WarmAffinityScore>},
                             {"model-preference", make<ModelPreferenceScore>},
                             {"topology", make<TopologyScore>},
                         });
  return registry;
}

}  // namespace gf
