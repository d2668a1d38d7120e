// Fits PerfCoefficients for every (GPU, model, TP) the profiles cover. Pure: takes the parsed
// profile rows (tools/perfmodel_io.h reads and decompresses the files) and returns coefficients,
// error statistics and everything docs/perfmodel.md reports. The method is described there.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "perfmodel/fit.h"
#include "perfmodel/perf_model.h"
#include "perfmodel/profile_csv.h"

namespace gf {

struct ProfileSet {
  std::vector<SplitwiseRow> splitwise;
  struct Mlp {
    std::string gpu;    // canonical GPU name, e.g. "A100-80GB"
    std::string model;  // Hugging Face name, e.g. "meta-llama/Llama-2-7b-hf"
    std::vector<VidurMlpRow> rows;
  };
  std::vector<Mlp> mlp;
  std::vector<VidurAttentionRow> attention;  // the A100 legacy table (one attention shape)
  struct AllReduce {
    std::string gpu;
    std::vector<VidurAllReduceRow> rows;
  };
  std::vector<AllReduce> all_reduce;  // the dgx (8 GPUs on NVLink) tables
};

// One profile point, as fitted or held out.
struct FitPoint {
  bool prefill = false;
  std::string label;   // "P=512 B=1 T=128" (Splitwise) or "N=512" / "B=8 ctx=1024" (Vidur)
  double tokens = 0;   // prefill: prompt tokens of the batch
  double batch = 0;    // sequences in the batch
  double context = 0;  // decode: context tokens of the whole batch
  double observed_ms = 0;
  double predicted_ms = 0;
  bool held_out = false;
};

struct FittedKey {
  PerfKey key;
  PerfCoefficients coef;
  ErrorStats prefill_fit, prefill_held_out, decode_fit, decode_held_out;
  std::vector<FitPoint> points;
};

// Vidur kernel sums against the Splitwise end-to-end measurements of Llama-2-70B, which fix the
// per-layer engine overhead the kernel sums leave out.
struct OverheadCalibration {
  std::string gpu;
  int tp = 0;
  double prefill_ms_per_layer = 0;
  double decode_ms_per_layer = 0;
  ErrorStats prefill_raw, prefill_calibrated;  // Vidur composition vs Splitwise, B=1 prefills
  ErrorStats decode_raw, decode_calibrated;    // ... and all decode points
};

struct ExtrapolationCheck {
  std::string model;
  ErrorStats stats;  // A100 x ratio(N) against the measured H100 layer time
};

struct ExcludedConfig {
  PerfKey key;
  int prompt = 0;
  int batch = 0;
  std::string reason;
};

struct FitReport {
  std::vector<FittedKey> keys;  // sorted by GPU, model, TP
  // H100/A100 ratio of Vidur per-layer time: median over every (model, TP, tokens) measured on
  // both, for tokens <= kMemoryBoundTokens and for tokens >= kComputeBoundTokens.
  double ratio_memory_bound = 0;
  double ratio_compute_bound = 0;
  size_t ratio_memory_samples = 0;
  size_t ratio_compute_samples = 0;
  std::vector<ExtrapolationCheck> extrapolation;
  ErrorStats extrapolation_all;
  std::vector<OverheadCalibration> overheads;
  std::vector<ExcludedConfig> excluded;
  std::vector<std::string> notes;  // rows and combinations left out, and why
  // The attention table's shape, per GPU.
  double attention_ref_q_heads = 0, attention_ref_kv_heads = 0, attention_ref_head_dim = 0;
  double attention_decode_floor_ms = 0, attention_prefill_floor_ms = 0;

  static constexpr double kMemoryBoundTokens = 64;
  static constexpr double kComputeBoundTokens = 1024;
  // The H100/A100 ratio for a pass over `tokens` tokens: memory-bound ratio up to 64 tokens,
  // compute-bound from 1024, log-linear between.
  double h100_ratio(double tokens) const;
};

Result<FitReport> fit_profiles(const ProfileSet& profiles);

}  // namespace gf
