#include "agent/engine_adapter.h"

#include <fmt/format.h>

#include <algorithm>

#include "perfmodel/perf_model.h"

namespace gf {
namespace {

std::string fraction(double f) {
  return fmt::format("{:.4g}", f);
}

std::string tp(const ReplicaLaunch& l) {
  return std::to_string(l.deployment->resources.gpus);
}

// Whether the deployment's own args set `flag` ("--flag value" or "--flag=value").
bool args_set(const ReplicaLaunch& l, const std::string& flag) {
  for (const auto& a : l.deployment->engine.args)
    if (a == flag || a.starts_with(flag + "=")) return true;
  return false;
}

// The iteration budget (DeploymentSpec::engine.max_batched_tokens, resolved by the controller)
// under the engine's own flag, unless the deployment's args already set that flag themselves.
// Returns the budget passed, 0 when none.
int64_t add_budget(ProcessSpec& p, const ReplicaLaunch& l, const std::string& flag) {
  const auto& b = l.deployment->engine.max_batched_tokens;
  if (!b || b->automatic || b->tokens.value <= 0 || args_set(l, flag)) return 0;
  p.argv.push_back(flag);
  p.argv.push_back(std::to_string(b->tokens.value));
  return b->tokens.value;
}

const EngineMetricNames kVllmMetrics{
    .running = "vllm:num_requests_running",
    .waiting = "vllm:num_requests_waiting",
    .kv_usage = "vllm:kv_cache_usage_perc",
    .ttft = "vllm:time_to_first_token_seconds",
    .queue_time = "vllm:request_queue_time_seconds",
    .kv_usage_fallback = "vllm:gpu_cache_usage_perc",  // older vLLM releases
    .prompt_tokens = "vllm:prompt_tokens_total",
    .generation_tokens = "vllm:generation_tokens_total"};

// `vllm serve MODEL`; --gpu-memory-utilization is how a fractional share is enforced.
class VllmAdapter final : public EngineAdapter {
 public:
  const char* name() const override { return "vllm"; }
  ProcessSpec build(const ReplicaLaunch& l) const override {
    ProcessSpec p;
    p.argv = {"vllm",
              "serve",
              l.deployment->model,
              "--host",
              l.host,
              "--port",
              std::to_string(l.port),
              "--tensor-parallel-size",
              tp(l),
              "--gpu-memory-utilization",
              fraction(l.memory_fraction),
              "--served-model-name",
              l.deployment->model};
    if (!l.api_key.empty()) p.env["VLLM_API_KEY"] = l.api_key;  // vllm serve --api-key's variable
    // vLLM refuses a budget below max_num_seqs, which it sets to 1024 on an H100: with a budget,
    // the 256 sequences the perf model and the simulator assume (PerfModel::kMaxBatch), or the
    // budget itself if smaller, unless the deployment's args say otherwise.
    if (const int64_t budget = add_budget(p, l, "--max-num-batched-tokens");
        budget > 0 && !args_set(l, "--max-num-seqs")) {
      p.argv.push_back("--max-num-seqs");
      p.argv.push_back(std::to_string(std::min<int64_t>(budget, PerfModel::kMaxBatch)));
    }
    p.metrics = kVllmMetrics;
    return p;
  }
};

// `python3 -m sglang.launch_server`; metrics are off unless asked for.
class SglangAdapter final : public EngineAdapter {
 public:
  const char* name() const override { return "sglang"; }
  ProcessSpec build(const ReplicaLaunch& l) const override {
    ProcessSpec p;
    p.argv = {"python3",
              "-m",
              "sglang.launch_server",
              "--model-path",
              l.deployment->model,
              "--host",
              l.host,
              "--port",
              std::to_string(l.port),
              "--tp",
              tp(l),
              "--mem-fraction-static",
              fraction(l.memory_fraction),
              "--enable-metrics"};
    if (!l.api_key.empty()) {  // SGLang reads it only from its command line
      p.argv.push_back("--api-key");
      p.argv.push_back(l.api_key);
    }
    add_budget(p, l, "--chunked-prefill-size");
    // token_usage is the share of the KV pool's tokens in use: SGLang's KV-cache usage.
    p.metrics = {.running = "sglang:num_running_reqs",
                 .waiting = "sglang:num_queue_reqs",
                 .kv_usage = "sglang:token_usage",
                 .ttft = "sglang:time_to_first_token_seconds",
                 .prompt_tokens = "sglang:prompt_tokens_total",
                 .generation_tokens = "sglang:generation_tokens_total"};
    return p;
  }
};

// `trtllm-serve MODEL`; its fraction is of the memory left after the weights. It has no API key
// option: a TensorRT-LLM replica stays reachable by anyone who knows its address
// (docs/reliability.md). Its Prometheus text is at /prometheus/metrics (its /metrics is JSON
// iteration stats), under the names of tensorrt_llm/metrics/collector.py, and only when the LLM
// API options enable return_perf_metrics (and enable_iter_perf_stats for the queue gauges and
// the KV usage); without them the load is unknown, as for any engine that does not report it.
class TrtllmAdapter final : public EngineAdapter {
 public:
  const char* name() const override { return "trtllm"; }
  ProcessSpec build(const ReplicaLaunch& l) const override {
    ProcessSpec p;
    p.argv = {"trtllm-serve",
              l.deployment->model,
              "--host",
              l.host,
              "--port",
              std::to_string(l.port),
              "--tp_size",
              tp(l),
              "--kv_cache_free_gpu_memory_fraction",
              fraction(l.memory_fraction)};
    add_budget(p, l, "--max_num_tokens");
    p.metrics_path = "/prometheus/metrics";
    p.metrics = {.running = "trtllm_num_requests_running",
                 .waiting = "trtllm_num_requests_waiting",
                 .kv_usage = "trtllm_kv_cache_utilization",
                 .ttft = "trtllm_time_to_first_token_seconds",
                 .prompt_tokens = "trtllm_prompt_tokens_total",
                 .generation_tokens = "trtllm_generation_tokens_total"};
    return p;
  }
};

// `llama-server -m MODEL`: every layer on the GPU(s); it splits across visible GPUs by itself.
class LlamaCppAdapter final : public EngineAdapter {
 public:
  const char* name() const override { return "llama.cpp"; }
  ProcessSpec build(const ReplicaLaunch& l) const override {
    ProcessSpec p;
    p.argv = {"llama-server", "-m",       l.deployment->model,    "--host",
              l.host,         "--port",   std::to_string(l.port), "--n-gpu-layers",
              "999",          "--metrics"};
    if (!l.api_key.empty()) p.env["LLAMA_ARG_API_KEY"] = l.api_key;  // llama-server --api-key
    add_budget(p, l, "--batch-size");
    p.metrics = {.running = "llamacpp:requests_processing",
                 .waiting = "llamacpp:requests_deferred",
                 .kv_usage = "llamacpp:kv_cache_usage_ratio",
                 .prompt_tokens = "llamacpp:prompt_tokens_total",
                 .generation_tokens = "llamacpp:tokens_predicted_total"};
    return p;
  }
};

// gpufleet's own simulated engine: speaks vLLM's API and metrics.
class EngineSimAdapter final : public EngineAdapter {
 public:
  const char* name() const override { return "engine-sim"; }
  ProcessSpec build(const ReplicaLaunch& l) const override {
    ProcessSpec p;
    p.argv = {l.gpufleet_binary,
              "engine-sim",
              "--model",
              l.deployment->model,
              "--gpu",
              l.gpu_model,
              "--tp",
              tp(l),
              "--host",
              l.host,
              "--port",
              std::to_string(l.port),
              "--memory-fraction",
              fraction(l.memory_fraction)};
    if (!l.api_key.empty()) p.env["VLLM_API_KEY"] = l.api_key;  // as vLLM, whose API it speaks
    add_budget(p, l, "--max-num-batched-tokens");
    // The deployment's own latency model: without it a GPU with no measured or derived profile
    // cannot start (on a real H200 the replica crash-looped for want of these; #16).
    if (const auto& perf = l.deployment->performance) {
      p.argv.push_back("--performance");
      p.argv.push_back(fmt::format("{},{},{},{},{},{}", perf->prefill_base_ms,
                                   perf->prefill_per_token_ms, perf->prefill_per_token2_ms,
                                   perf->decode_base_ms, perf->decode_per_seq_ms,
                                   perf->decode_per_ctx_token_ms));
    }
    p.metrics = kVllmMetrics;
    return p;
  }
};

}  // namespace

const EngineAdapter& adapter_for(EngineType type) {
  static const VllmAdapter vllm;
  static const SglangAdapter sglang;
  static const TrtllmAdapter trtllm;
  static const LlamaCppAdapter llamacpp;
  static const EngineSimAdapter sim;
  switch (type) {
    case EngineType::kVllm:
      return vllm;
    case EngineType::kSglang:
      return sglang;
    case EngineType::kTrtllm:
      return trtllm;
    case EngineType::kLlamaCpp:
      return llamacpp;
    case EngineType::kEngineSim:
      return sim;
  }
  return sim;
}

Result<ProcessSpec> build_process(const ReplicaLaunch& l) {
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("cannot start replica {}: {}", l.replica, why));
  };
  if (l.deployment == nullptr) return bad("no deployment");
  if (l.gpu_uuids.empty()) return bad("no GPUs allocated");
  if (static_cast<int>(l.gpu_uuids.size()) != l.deployment->resources.gpus) {
    return bad(fmt::format("{} GPUs allocated but the deployment asks for {}", l.gpu_uuids.size(),
                           l.deployment->resources.gpus));
  }
  if (l.port == 0) return bad("no port allocated");
  if (!(l.memory_fraction > 0.0 && l.memory_fraction <= 1.0)) {
    return bad(fmt::format("memory fraction {} is not in (0, 1]", l.memory_fraction));
  }
  ProcessSpec p = adapter_for(l.deployment->engine.type).build(l);
  p.argv.insert(p.argv.end(), l.deployment->engine.args.begin(), l.deployment->engine.args.end());
  std::string devices;
  for (const auto& u : l.gpu_uuids)
    devices += (devices.empty() ? "" : ",") + u;
  p.env["CUDA_VISIBLE_DEVICES"] = devices;
  for (const auto& [k, v] : l.deployment->engine.env)
    p.env[k] = v;  // the deployment has the last word
  return p;
}

}  // namespace gf
