#include "common/spec.h"

namespace gf {

const char* to_string(EngineType t) {
  switch (t) {
    case EngineType::kVllm:
      return "vllm";
    case EngineType::kSglang:
      return "sglang";
    case EngineType::kTrtllm:
      return "trtllm";
    case EngineType::kLlamaCpp:
      return "llama.cpp";
    case EngineType::kEngineSim:
      return "engine-sim";
  }
  return "?";
}
const char* to_string(TopologyPolicy t) {
  switch (t) {
    case TopologyPolicy::kNvlinkRequired:
      return "nvlink-required";
    case TopologyPolicy::kNvlinkPreferred:
      return "nvlink-preferred";
    case TopologyPolicy::kAny:
      return "any";
  }
  return "?";
}
const char* to_string(RolloutStrategy s) {
  switch (s) {
    case RolloutStrategy::kRolling:
      return "rolling";
    case RolloutStrategy::kBlueGreen:
      return "blue-green";
    case RolloutStrategy::kCanary:
      return "canary";
  }
  return "?";
}

const char* to_string(ScalingMetric m) {
  switch (m) {
    case ScalingMetric::kConcurrency:
      return "concurrency";
    case ScalingMetric::kRps:
      return "rps";
    case ScalingMetric::kWork:
      return "work";
  }
  return "?";
}

}  // namespace gf
