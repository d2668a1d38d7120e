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
  int hidden = 0;       // n_embd
  int heads = 0;        // query heads
  int kv_heads = 0;     // key/value heads (GQA)
  int64_t params = 0;   // parameter count
  int dtype_bytes = 2;  // fp16/bf16
  Tokens context_length{4096};

  Bytes weight_bytes() const { return Bytes(params * dtype_bytes); }
  // K and V for every layer, per token, for the whole model (all TP shards together).
  Bytes kv_bytes_per_token() const;
};

// Iteration time = fixed + per-item terms, in milliseconds. Prefill of a batch with P prompt
// tokens: prefill_base + prefill_per_token*P + prefill_per_token2*P^2 (attention is quadratic),
// but never less than prefill_floor (a roofline: short prompts cost about one pass over the
// weights, whatever their length; 0 turns the floor off). One decode iteration for B sequences
// holding C context tokens in all: decode_base + decode_per_seq*B + decode_per_ctx_token*C.
// All coefficients are >= 0, so more tokens, sequences or context never make an iteration faster.
struct PerfCoefficients {
  double prefill_base_ms = 0;
  double prefill_per_token_ms = 0;
  double prefill_per_token2_ms = 0;
  double decode_base_ms = 0;
  double decode_per_seq_ms = 0;
  double decode_per_ctx_token_ms = 0;
  double prefill_floor_ms = 0;

  bool operator==(const PerfCoefficients&) const = default;
  // Milliseconds, without rounding; zero for an empty prefill or batch.
  double prefill_ms(double prompt_tokens) const;
  double decode_ms(double batch, double context_tokens) const;
  // One iteration of a chunked-prefill engine: prompt chunks of `prefill_tokens` in all, whose
  // attention covers `attention` (the sum of end^2 - start^2 over the chunks; a whole prompt of P
  // tokens is P^2), and `batch` sequences decoding with `context_tokens`. The chunks cost what a
  // prefill of them does with the quadratic term over their positions; decodes ride on that pass
  // over the weights: only their per-sequence and context terms add, and the iteration costs at
  // least a decode iteration of them (docs/perfmodel.md, "Mixed iterations").
  double mixed_ms(double prefill_tokens, double attention, double batch,
                  double context_tokens) const;
  // kInvalidArgument unless every coefficient is finite and >= 0 and a decode iteration costs
  // something (decode_base or decode_per_seq > 0). For manual coefficients from a manifest.
  Status validate() const;
};

// One (GPU model, LLM, TP size) that has compiled-in coefficients.
struct PerfKey {
  std::string gpu;    // canonical, e.g. "H100-80GB"
  std::string model;  // canonical Hugging Face name
  int tp = 1;
  std::string source;  // "splitwise", "vidur" or "vidur-extrapolated" (see docs/perfmodel.md)
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
  // Every combination with compiled-in coefficients, sorted by GPU, model, TP.
  static std::vector<PerfKey> known_pairs();
  // The combinations lookup() derives for catalogue GPUs without a measured profile (H200, B200,
  // L40S, ...): each measured pair's model and TP on each such GPU, source "derived from <GPU>".
  static std::vector<PerfKey> derived_pairs();
  // Coefficients for `gpu` from the measured `reference` GPU's for the same model and TP, scaled
  // by datasheet ratios (common/gpu_catalog.h): the per-token prefill terms by dense BF16
  // throughput (prefill is compute-bound), every decode term by memory bandwidth (decode reads
  // the weights and the KV cache each iteration). Fixed prefill costs stay. kNotFound when either
  // GPU is not in the catalogue or the reference has no fit for the pair. docs/perfmodel.md
  // reports how well A100 predicts H100 this way.
  static Result<PerfModel> derive(const std::string& gpu, const std::string& model, int tp,
                                  const std::string& reference);
  // "a100-80gb", "A100_80GB", "NVIDIA A100-80GB" -> "A100-80GB"; kNotFound for others.
  static Result<std::string> canonical_gpu(const std::string& gpu_model);
  // Memory of one GPU of a known model (nominal 80 GiB for both); MiB(0) when unknown.
  static MiB gpu_memory_of(const std::string& gpu_model);
  // vLLM V1's default max_num_batched_tokens for its OpenAI server on this GPU: 8192 on one with
  // at least 70 GiB that is not an A100, else 2048 (an unknown GPU included).
  static Tokens default_max_batched_tokens(const std::string& gpu_model);

  const ModelArch& arch() const { return arch_; }
  const PerfCoefficients& coefficients() const { return coef_; }
  int tensor_parallel() const { return tp_; }
  const std::string& gpu() const { return gpu_; }        // canonical when known, else as given
  const std::string& source() const { return source_; }  // PerfKey::source, or "manual"

  Duration prefill_time(Tokens prompt_tokens) const;
  Duration decode_iteration_time(int batch, Tokens context_tokens) const;
  // PerfCoefficients::mixed_ms as a duration.
  Duration mixed_iteration_time(Tokens prefill_tokens, double attention, int batch,
                                Tokens context_tokens) const;
  // KV-cache tokens a replica holds: (GPU memory x fraction x TP - weights) / bytes per token.
  // Zero when the weights alone do not fit.
  Tokens kv_capacity(MiB gpu_memory, double memory_fraction) const;
  // Weights over the load bandwidth (bytes/s, of the whole replica), plus engine start-up.
  // Duration::max() for a bandwidth <= 0.
  Duration cold_start(double load_bytes_per_second, Duration engine_init) const;
  // Requests/s one replica sustains with p50 TTFT and TPOT within the target, for requests of
  // this average size. The KV cache is this GPU's at kDefaultMemoryFraction (unlimited for an
  // unknown GPU with manual coefficients). The queueing model is in docs/perfmodel.md.
  double sustainable_rps(const SloTarget& slo, Tokens avg_prompt, Tokens avg_output) const;
  // The same with an explicit KV-cache size in tokens (<= 0: unlimited).
  double sustainable_rps(const SloTarget& slo, Tokens avg_prompt, Tokens avg_output,
                         Tokens kv_capacity_tokens) const;

  static constexpr double kDefaultMemoryFraction = 0.9;  // vLLM's gpu_memory_utilization
  static constexpr int kMaxBatch = 256;                  // vLLM's max_num_seqs

 private:
  ModelArch arch_;
  PerfCoefficients coef_;
  int tp_ = 1;
  std::string gpu_;
  std::string source_;
};

}  // namespace gf
