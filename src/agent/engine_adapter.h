// Engine adapters: how to start each inference engine (vLLM, SGLang, TensorRT-LLM, llama.cpp,
// engine-sim) for one replica: command line, environment, readiness path and metric names.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/spec.h"

namespace gf {

// Everything the agent knows about a replica it is about to start.
struct ReplicaLaunch {
  std::string replica;  // id, for logs
  const DeploymentSpec* deployment = nullptr;
  std::vector<std::string> gpu_uuids;  // CUDA_VISIBLE_DEVICES, in order
  std::string gpu_model;               // "A100-80GB": engine-sim prices latency with it
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  // Share of each GPU's memory the engine may use: 0.9 for whole GPUs, the share's memory over
  // the GPU's memory for fractional replicas (vLLM's --gpu-memory-utilization).
  double memory_fraction = 0.9;
  std::string gpufleet_binary = "gpufleet";  // for engine-sim replicas
  // The key the engine must demand of every request, so that only gateways reach it (#17,
  // defect 6); empty: open. Passed in the environment where the engine reads it there, so it
  // is not on a command line every local user can read.
  std::string api_key;
};

// The metrics a replica exposes, by role, so the agent reads any engine the same way. An empty
// name: the engine does not expose it, and what it measures stays unknown.
struct EngineMetricNames {
  std::string running;   // requests in the batch
  std::string waiting;   // requests queued
  std::string kv_usage;  // KV-cache use, 0..1
  std::string ttft;      // TTFT histogram (may be empty)
  // Histogram of each request's time in the engine's queue before its first schedule (may be
  // empty: only vLLM's is read, docs/agent.md).
  std::string queue_time;
  // Read only when `kv_usage` is absent: the name an older release of the engine used (older
  // vLLM releases have vllm:gpu_cache_usage_perc). Engines that serve both must not count twice.
  std::string kv_usage_fallback;
  std::string prompt_tokens;      // counter: prompt tokens processed since the engine started
  std::string generation_tokens;  // counter: tokens generated since the engine started
};

struct ProcessSpec {
  std::vector<std::string> argv;           // argv[0] is looked up in PATH
  std::map<std::string, std::string> env;  // added to (and overriding) the agent's environment
  std::string readiness_path = "/health";
  std::string metrics_path = "/metrics";
  EngineMetricNames metrics;
};

class EngineAdapter {
 public:
  virtual ~EngineAdapter() = default;
  virtual const char* name() const = 0;
  virtual ProcessSpec build(const ReplicaLaunch& launch) const = 0;
};

const EngineAdapter& adapter_for(EngineType type);

// Builds the process spec, with the deployment's own args appended and its env applied last,
// after checking the launch makes sense (a deployment, GPUs, a port, a fraction in (0, 1]).
Result<ProcessSpec> build_process(const ReplicaLaunch& launch);

}  // namespace gf
