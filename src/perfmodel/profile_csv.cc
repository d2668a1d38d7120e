#include "perfmodel/profile_csv.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace gf {
namespace {

std::string_view trim_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

void split(std::string_view line, std::vector<std::string_view>& out) {
  size_t start = 0;
  for (;;) {
    const size_t comma = line.find(',', start);
    if (comma == std::string_view::npos) {
      out.push_back(line.substr(start));
      return;
    }
    out.push_back(line.substr(start, comma - start));
    start = comma + 1;
  }
}

Error cell_error(size_t row, std::string_view column, std::string_view what) {
  return make_error(ErrorCode::kInvalidArgument, "row " + std::to_string(row + 2) + ", column \"" +
                                                     std::string(column) +
                                                     "\": " + std::string(what));
}

// Shorthand: the numeric cell or return its error.
#define GF_NUMBER(var, table, row, col)     \
  double var = 0;                           \
  {                                         \
    auto n_ = (table).number((row), (col)); \
    if (!n_) return n_.error();             \
    var = *n_;                              \
  }

}  // namespace

Result<CsvTable> CsvTable::parse(std::string_view text) {
  CsvTable t;
  size_t pos = 0;
  size_t line_no = 0;
  std::vector<std::string_view> fields;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = trim_cr(text.substr(pos, end - pos));
    pos = end + 1;
    ++line_no;
    if (line.empty()) continue;
    fields.clear();
    split(line, fields);
    if (t.header_.empty()) {
      t.header_ = fields;
      continue;
    }
    if (fields.size() != t.header_.size())
      return make_error(ErrorCode::kInvalidArgument, "line " + std::to_string(line_no) + " has " +
                                                         std::to_string(fields.size()) +
                                                         " fields, the header has " +
                                                         std::to_string(t.header_.size()));
    t.cells_.insert(t.cells_.end(), fields.begin(), fields.end());
  }
  if (t.header_.empty()) return make_error(ErrorCode::kInvalidArgument, "empty CSV text");
  return t;
}

int CsvTable::column(std::string_view name) const {
  for (size_t i = 0; i < header_.size(); ++i)
    if (header_[i] == name) return static_cast<int>(i);
  return -1;
}

Result<double> CsvTable::number(size_t row, int col) const {
  std::string_view s = cell(row, col);
  double v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v))
    return cell_error(row, header_[col], "\"" + std::string(s) + "\" is not a number");
  return v;
}

Result<std::vector<int>> CsvTable::columns(const std::vector<std::string_view>& names) const {
  std::vector<int> out;
  std::string missing;
  for (auto n : names) {
    out.push_back(column(n));
    if (out.back() < 0) missing += (missing.empty() ? "" : ", ") + std::string(n);
  }
  if (!missing.empty())
    return make_error(ErrorCode::kInvalidArgument, "missing columns: " + missing);
  return out;
}

Result<std::vector<SplitwiseRow>> parse_splitwise_csv(std::string_view text) {
  auto t = CsvTable::parse(text);
  if (!t) return t.error();
  auto cols = t->columns({"model", "hardware", "prompt_size", "batch_size", "token_size",
                          "prompt_time", "token_time", "tensor_parallel"});
  if (!cols) return cols.error();
  const auto& c = *cols;
  std::vector<SplitwiseRow> out;
  out.reserve(t->rows());
  for (size_t r = 0; r < t->rows(); ++r) {
    SplitwiseRow row;
    row.model = std::string(t->cell(r, c[0]));
    row.hardware = std::string(t->cell(r, c[1]));
    GF_NUMBER(prompt, *t, r, c[2]);
    GF_NUMBER(batch, *t, r, c[3]);
    GF_NUMBER(tokens, *t, r, c[4]);
    GF_NUMBER(prompt_ms, *t, r, c[5]);
    GF_NUMBER(token_ms, *t, r, c[6]);
    GF_NUMBER(tp, *t, r, c[7]);
    row.prompt = static_cast<int>(prompt);
    row.batch = static_cast<int>(batch);
    row.tokens = static_cast<int>(tokens);
    row.tp = static_cast<int>(tp);
    row.prompt_ms = prompt_ms;
    row.token_ms = token_ms;
    if (row.prompt <= 0 || row.batch <= 0 || row.tokens <= 0 || row.tp <= 0 || prompt_ms <= 0 ||
        token_ms <= 0)
      return cell_error(r, "prompt_time", "sizes and times must be positive");
    out.push_back(std::move(row));
  }
  return out;
}

Result<std::vector<VidurMlpRow>> parse_vidur_mlp_csv(std::string_view text) {
  auto t = CsvTable::parse(text);
  if (!t) return t.error();
  auto cols =
      t->columns({"num_tensor_parallel_workers", "num_tokens", "n_head", "n_kv_head", "n_embd"});
  if (!cols) return cols.error();
  static constexpr std::string_view kOps[] = {"time_stats.input_layernorm.median",
                                              "time_stats.attn_pre_proj.median",
                                              "time_stats.attn_rope.median",
                                              "time_stats.attn_post_proj.median",
                                              "time_stats.post_attention_layernorm.median",
                                              "time_stats.mlp_up_proj.median",
                                              "time_stats.mlp_act.median",
                                              "time_stats.mlp_down_proj.median",
                                              "time_stats.add.median"};
  std::vector<int> ops;
  for (auto op : kOps)
    if (int i = t->column(op); i >= 0) ops.push_back(i);
  // The GEMMs are what every file must have.
  auto gemms = t->columns({"time_stats.attn_pre_proj.median", "time_stats.attn_post_proj.median",
                           "time_stats.mlp_up_proj.median", "time_stats.mlp_down_proj.median"});
  if (!gemms) return gemms.error();
  const auto& c = *cols;
  std::vector<VidurMlpRow> out;
  out.reserve(t->rows());
  for (size_t r = 0; r < t->rows(); ++r) {
    VidurMlpRow row;
    GF_NUMBER(tp, *t, r, c[0]);
    GF_NUMBER(n, *t, r, c[1]);
    GF_NUMBER(heads, *t, r, c[2]);
    GF_NUMBER(kv, *t, r, c[3]);
    GF_NUMBER(embd, *t, r, c[4]);
    row.tp = static_cast<int>(tp);
    row.num_tokens = static_cast<int64_t>(n);
    row.n_head = static_cast<int>(heads);
    row.n_kv_head = static_cast<int>(kv);
    row.n_embd = static_cast<int>(embd);
    for (int op : ops) {
      GF_NUMBER(ms, *t, r, op);
      row.layer_ms += ms;
    }
    if (row.tp <= 0 || row.num_tokens <= 0 || !(row.layer_ms > 0))
      return cell_error(r, "num_tokens", "sizes and times must be positive");
    out.push_back(row);
  }
  return out;
}

Result<std::vector<VidurAttentionRow>> parse_vidur_attention_csv(std::string_view text) {
  auto t = CsvTable::parse(text);
  if (!t) return t.error();
  auto cols =
      t->columns({"is_prefill", "batch_size", "prefill_chunk_size", "kv_cache_size",
                  "time_stats.attn_decode.median", "time_stats.attn_prefill.median",
                  "time_stats.attn_input_reshape.median", "time_stats.attn_output_reshape.median",
                  "n_embd", "n_q_head", "n_kv_head", "num_tensor_parallel_workers"});
  if (!cols) return cols.error();
  const auto& c = *cols;
  std::vector<VidurAttentionRow> out;
  out.reserve(t->rows());
  for (size_t r = 0; r < t->rows(); ++r) {
    VidurAttentionRow row;
    const std::string_view flag = t->cell(r, c[0]);
    if (flag != "True" && flag != "False")
      return cell_error(r, "is_prefill", "expected True or False");
    row.prefill = flag == "True";
    GF_NUMBER(batch, *t, r, c[1]);
    GF_NUMBER(chunk, *t, r, c[2]);
    GF_NUMBER(kv, *t, r, c[3]);
    GF_NUMBER(attn, *t, r, row.prefill ? c[5] : c[4]);
    GF_NUMBER(in_reshape, *t, r, c[6]);
    GF_NUMBER(out_reshape, *t, r, c[7]);
    GF_NUMBER(embd, *t, r, c[8]);
    GF_NUMBER(q, *t, r, c[9]);
    GF_NUMBER(kvh, *t, r, c[10]);
    GF_NUMBER(tp, *t, r, c[11]);
    row.batch = static_cast<int>(batch);
    row.chunk = static_cast<int64_t>(chunk);
    row.kv_cache = static_cast<int64_t>(kv);
    row.ms = attn + in_reshape + out_reshape;
    row.n_embd = static_cast<int>(embd);
    row.n_q_head = static_cast<int>(q);
    row.n_kv_head = static_cast<int>(kvh);
    row.tp = static_cast<int>(tp);
    out.push_back(row);
  }
  return out;
}

Result<std::vector<VidurAllReduceRow>> parse_vidur_all_reduce_csv(std::string_view text) {
  auto t = CsvTable::parse(text);
  if (!t) return t.error();
  auto cols =
      t->columns({"num_workers", "devices_per_node", "size", "time_stats.all_reduce.median"});
  if (!cols) return cols.error();
  const auto& c = *cols;
  std::vector<VidurAllReduceRow> out;
  out.reserve(t->rows());
  for (size_t r = 0; r < t->rows(); ++r) {
    GF_NUMBER(workers, *t, r, c[0]);
    GF_NUMBER(dpn, *t, r, c[1]);
    GF_NUMBER(size, *t, r, c[2]);
    GF_NUMBER(ms, *t, r, c[3]);
    out.push_back(
        {static_cast<int>(workers), static_cast<int>(dpn), static_cast<int64_t>(size), ms});
  }
  return out;
}

#undef GF_NUMBER

}  // namespace gf
