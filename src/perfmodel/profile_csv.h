// Parses the GPU profile files in ../shared/data/profiles (see its README) from CSV text. Pure:
// callers read and decompress the files; this only sees the text.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace gf {

// A CSV table: a header row, then rows of the same width. No quoting (the profile files have
// none); "\r\n" line ends are accepted. Cells are views into the text, which must outlive it.
class CsvTable {
 public:
  static Result<CsvTable> parse(std::string_view text);

  size_t rows() const { return cells_.size() / std::max<size_t>(header_.size(), 1); }
  // The index of a header name, or -1.
  int column(std::string_view name) const;
  std::string_view cell(size_t row, int col) const { return cells_[row * header_.size() + col]; }
  // A required numeric cell; kInvalidArgument naming row and column when it is not a number.
  Result<double> number(size_t row, int col) const;
  // kInvalidArgument naming every missing column.
  Result<std::vector<int>> columns(const std::vector<std::string_view>& names) const;

 private:
  std::vector<std::string_view> header_;
  std::vector<std::string_view> cells_;
};

// One row of splitwise-sim's data/perf_model.csv.
struct SplitwiseRow {
  std::string model;     // "llama2-70b", "bloom-176b"
  std::string hardware;  // "a100-80gb", "h100-80gb", "h100-80gb-pcap"
  int prompt = 0;        // prompt tokens per request
  int batch = 0;         // requests per batch
  int tokens = 0;        // output tokens per request
  int tp = 0;
  double prompt_ms = 0;  // prefill of the whole batch
  double token_ms = 0;   // mean decode iteration
};
Result<std::vector<SplitwiseRow>> parse_splitwise_csv(std::string_view text);

// One row of a Vidur compute profile (<gpu>/<org>/<model>/mlp.csv): one transformer layer.
struct VidurMlpRow {
  int tp = 0;
  int64_t num_tokens = 0;
  // Sum of the per-op medians of one layer except the embedding: input_layernorm, attn_pre_proj,
  // attn_rope, attn_post_proj, post_attention_layernorm (absent for phi-2), mlp_up_proj, mlp_act,
  // mlp_down_proj and add. Attention itself is not in these files.
  double layer_ms = 0;
  int n_head = 0;
  int n_kv_head = 0;
  int n_embd = 0;
};
Result<std::vector<VidurMlpRow>> parse_vidur_mlp_csv(std::string_view text);

// One row of Vidur's (legacy, A100) attention profile.
struct VidurAttentionRow {
  bool prefill = false;
  int batch = 0;
  int64_t chunk = 0;     // prefill chunk tokens (0 for decode rows)
  int64_t kv_cache = 0;  // tokens already in the KV cache, per sequence
  double ms = 0;         // attn_decode or attn_prefill, plus input and output reshape (medians)
  int n_embd = 0;
  int n_q_head = 0;
  int n_kv_head = 0;
  int tp = 0;
};
Result<std::vector<VidurAttentionRow>> parse_vidur_attention_csv(std::string_view text);

// One row of a Vidur network profile (all_reduce.csv).
struct VidurAllReduceRow {
  int workers = 0;
  int devices_per_node = 0;
  int64_t bytes = 0;
  double ms = 0;  // median
};
Result<std::vector<VidurAllReduceRow>> parse_vidur_all_reduce_csv(std::string_view text);

}  // namespace gf
