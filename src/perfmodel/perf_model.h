// Engine latency and capacity for one (GPU model, LLM, tensor-parallel size), fitted from measured
// GPU profiles. Pure: the fitted coefficients are compiled in (tools/perfmodel_fit regenerates
// them and docs/perfmodel.md from ../shared/data/profiles); nothing here reads files.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/units.h"

namespace gf {

// The shape of an LLM: what KV-cache size and weight bytes follow from.
struct ModelArch {
  std::string name;  // canonical, e.g. "meta-llama/Llama-2-70b-hf"
  int layers = 0;
  int hidden = 0;     // n_embd
  int heads = 0;      // query heads
  int kv_heads = 0;   // key/value heads (GQA)
  int64_t params = 0;  // parameter count
  int dtype_bytes = 2;  // fp16/bf16
  Tokens context_length{4096};

  Bytes weight_bytes() const { return Bytes(params * dtype_bytes); }
  // K and V for every layer, per token, for the whole model (all TP shards together).
  Bytes kv_bytes_per_token() const;
};

// Iteration time = fixed + per-item terms, in milliseconds. Prefill of a batch with P prompt
// tokens: prefill_base + prefill_per_token*P + prefill_per_token2*P^2 (attention is quadratic).
// One decode iteration for B sequences holding C context tokens in all:
// decode_base + decode_per_seq*B + decode_per_ctx_token*C.
struct PerfCoefficients {
  double prefill_base_ms = 0;
  double prefill_per_token_ms = 0;
  double prefill_per_token2_ms = 0;
  double decode_base_ms = 0;
  double decode_per_seq_ms = 0;
  double decode_per_ctx_token_ms = 0;
};

struct SloTarget {
  Duration ttft{std::chrono::seconds(1)};
  Duration tpot{std::chrono::milliseconds(100)};
};

class PerfModel {
 public:
  // The fitted model for this combination, or kNotFound naming what is known. `manual`
  // coefficients (from a manifest) make any pair usable; the arch must still be known.
  static Result<PerfModel> lookup(const std::string& gpu_model, const std::string& model, int tp,
                                  const std::optional<PerfCoefficients>& manual = std::nullopt);
  static Result<ModelArch> arch_of(const std::string& model);
  static std::vector<std::string> known_gpus();
  static std::vector<std::string> known_models();

  const ModelArch& arch() const { return arch_; }
  const PerfCoefficients& coefficients() const { return coef_; }
  int tensor_parallel() const { return tp_; }

  Duration prefill_time(Tokens prompt_tokens) const;
  Duration decode_iteration_time(int batch, Tokens context_tokens) const;
  // KV-cache tokens a replica holds: (GPU memory x fraction x TP - weights) / bytes per token.
  // Zero when the weights alone do not fit.
  Tokens kv_capacity(MiB gpu_memory, double memory_fraction) const;
  // Weights over the load bandwidth (bytes/s), plus engine start-up.
  Duration cold_start(double load_bytes_per_second, Duration engine_init) const;
  // Requests/s one replica sustains with p50 TTFT and TPOT within the target, for requests of
  // this average size.
  double sustainable_rps(const SloTarget& slo, Tokens avg_prompt, Tokens avg_output) const;

 private:
  ModelArch arch_;
  PerfCoefficients coef_;
  int tp_ = 1;
  std::string gpu_;
};

}  // namespace gf
