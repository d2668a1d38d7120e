#include "perfmodel/profile_fit.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "perfmodel/model_catalog.h"

namespace gf {
namespace {

// A piecewise-linear function through sorted (x, y) points: clamped below the first point and
// proportional to x above the last one (large GEMMs and messages are throughput-bound; the last
// segment of a noisy profile is no guide to the slope).
class Curve {
 public:
  Curve() = default;
  explicit Curve(std::vector<std::pair<double, double>> pts) : pts_(std::move(pts)) {
    std::sort(pts_.begin(), pts_.end());
  }
  bool empty() const { return pts_.empty(); }
  const std::vector<std::pair<double, double>>& points() const { return pts_; }
  bool has(double x) const {
    auto it = std::lower_bound(pts_.begin(), pts_.end(), std::make_pair(x, -1e300));
    return it != pts_.end() && it->first == x;
  }
  double at(double x) const {
    if (pts_.size() == 1 || x <= pts_.front().first) return pts_.front().second;
    if (x >= pts_.back().first) return pts_.back().second * x / pts_.back().first;
    auto hi = std::lower_bound(pts_.begin(), pts_.end(), std::make_pair(x, -1e300));
    auto lo = hi - 1;
    const double t = (x - lo->first) / (hi->first - lo->first);
    return lo->second + t * (hi->second - lo->second);
  }
  double min_y() const {
    double m = pts_.front().second;
    for (const auto& p : pts_)
      m = std::min(m, p.second);
    return m;
  }

 private:
  std::vector<std::pair<double, double>> pts_;
};

// Groups (x, y) samples by x and keeps one y per x (median or mean).
Curve curve_of(const std::map<double, std::vector<double>>& samples, bool mean) {
  std::vector<std::pair<double, double>> pts;
  for (const auto& [x, ys] : samples) {
    double y = 0;
    if (mean) {
      for (double v : ys)
        y += v;
      y /= static_cast<double>(ys.size());
    } else {
      y = median_of(ys);
    }
    pts.emplace_back(x, y);
  }
  return Curve(std::move(pts));
}

double ratio_at(double r_mem, double r_cmp, double tokens) {
  if (tokens <= FitReport::kMemoryBoundTokens) return r_mem;
  if (tokens >= FitReport::kComputeBoundTokens) return r_cmp;
  const double t =
      (std::log2(tokens) - std::log2(FitReport::kMemoryBoundTokens)) /
      (std::log2(FitReport::kComputeBoundTokens) - std::log2(FitReport::kMemoryBoundTokens));
  return r_mem + t * (r_cmp - r_mem);
}

std::string fmt_int(double v) {
  return std::to_string(static_cast<int64_t>(std::llround(v)));
}

struct SplitwiseConfig {
  int prompt, batch, tokens;
  auto operator<=>(const SplitwiseConfig&) const = default;
};

// ---------------------------------------------------------------- Splitwise (end to end)

struct SplitwiseKeyData {
  PerfKey key;
  std::map<std::pair<int, int>, std::vector<double>> prefill;  // (P, B) -> prompt_time rows
  std::map<SplitwiseConfig, std::vector<double>> decode;       // (P, B, T) -> token_time rows
  std::map<SplitwiseConfig, int> rows;
};

struct SplitwiseFitted {
  FittedKey fitted;
  std::set<std::pair<int, int>> excluded;  // (P, B)
};

// Held-out rule: the centre of the one-factor sweeps is the configuration with the most rows;
// along each sweep (prompt, batch, output tokens), sorted ascending, the values at odd positions
// are held out, so every held-out point lies between two fitted ones.
// The centre of the one-factor sweeps: the configuration with the most rows.
SplitwiseConfig splitwise_centre(const SplitwiseKeyData& d) {
  SplitwiseConfig centre{};
  int most = -1;
  for (const auto& [cfg, n] : d.rows) {
    if (n > most) {
      most = n;
      centre = cfg;
    }
  }
  return centre;
}

std::set<SplitwiseConfig> splitwise_held_out(const SplitwiseKeyData& d) {
  const SplitwiseConfig centre = splitwise_centre(d);
  std::vector<SplitwiseConfig> prompt_sweep, batch_sweep, token_sweep;
  for (const auto& [cfg, n] : d.rows) {
    if (cfg.batch == centre.batch && cfg.tokens == centre.tokens) prompt_sweep.push_back(cfg);
    if (cfg.prompt == centre.prompt && cfg.tokens == centre.tokens) batch_sweep.push_back(cfg);
    if (cfg.prompt == centre.prompt && cfg.batch == centre.batch) token_sweep.push_back(cfg);
  }
  // d.rows is ordered by (P, B, T), so each sweep is already sorted by its own factor.
  std::set<SplitwiseConfig> held;
  for (const auto* sweep : {&prompt_sweep, &batch_sweep, &token_sweep})
    for (size_t i = 1; i < sweep->size(); i += 2)
      held.insert((*sweep)[i]);
  return held;
}

Result<SplitwiseFitted> fit_splitwise_key(const SplitwiseKeyData& d) {
  SplitwiseFitted out;
  FittedKey& fk = out.fitted;
  fk.key = d.key;
  // Outliers: a batch whose prefill is under half the slowest prefill of any smaller batch did
  // not prefill what it says (Llama-2-70B at TP2 with batch 64: 794 ms after 6633 ms at 32).
  std::map<std::pair<int, int>, double> prefill_median;
  for (const auto& [pb, v] : d.prefill)
    prefill_median[pb] = median_of(v);
  for (const auto& [pb, ms] : prefill_median) {
    double slowest_smaller = 0;
    for (const auto& [other, oms] : prefill_median)
      if (int64_t{other.first} * other.second < int64_t{pb.first} * pb.second)
        slowest_smaller = std::max(slowest_smaller, oms);
    if (ms < 0.5 * slowest_smaller) out.excluded.insert(pb);
  }
  const auto held = splitwise_held_out(d);
  const SplitwiseConfig centre = splitwise_centre(d);

  std::vector<PrefillPoint> prefill_fit;
  std::vector<DecodePoint> decode_fit;
  for (const auto& [pb, ms] : prefill_median) {
    if (out.excluded.count(pb)) continue;
    FitPoint p;
    p.prefill = true;
    p.label = "P=" + std::to_string(pb.first) + " B=" + std::to_string(pb.second);
    p.tokens = static_cast<double>(pb.first) * pb.second;
    p.batch = pb.second;
    p.observed_ms = ms;
    p.held_out = held.count(SplitwiseConfig{pb.first, pb.second, centre.tokens}) > 0;
    if (!p.held_out) prefill_fit.push_back({p.tokens, ms});
    fk.points.push_back(p);
  }
  for (const auto& [cfg, v] : d.decode) {
    if (out.excluded.count({cfg.prompt, cfg.batch})) continue;
    FitPoint p;
    p.label = "P=" + std::to_string(cfg.prompt) + " B=" + std::to_string(cfg.batch) +
              " T=" + std::to_string(cfg.tokens);
    p.batch = cfg.batch;
    // Decode iteration i (1 .. T-1) holds P + i tokens per sequence: P + T/2 on average.
    p.context = cfg.batch * (cfg.prompt + cfg.tokens / 2.0);
    p.observed_ms = median_of(v);
    p.held_out = held.count(cfg) > 0;
    if (!p.held_out) decode_fit.push_back({p.batch, p.context, p.observed_ms});
    fk.points.push_back(p);
  }
  auto c = fit_prefill(prefill_fit);
  if (!c) return c.error();
  auto c2 = fit_decode(decode_fit, *c);
  if (!c2) return c2.error();
  fk.coef = *c2;
  return out;
}

void finish_stats(FittedKey& fk) {
  std::vector<double> pf, ph, df, dh;
  for (auto& p : fk.points) {
    p.predicted_ms =
        p.prefill ? fk.coef.prefill_ms(p.tokens) : fk.coef.decode_ms(p.batch, p.context);
    const double e = abs_pct_error(p.predicted_ms, p.observed_ms);
    (p.prefill ? (p.held_out ? ph : pf) : (p.held_out ? dh : df)).push_back(e);
  }
  fk.prefill_fit = error_stats(pf);
  fk.prefill_held_out = error_stats(ph);
  fk.decode_fit = error_stats(df);
  fk.decode_held_out = error_stats(dh);
}

// ---------------------------------------------------------------- Vidur (per-layer kernels)

struct Attention {
  double q_per_gpu = 0, kv_per_gpu = 0, head_dim = 0;
  std::map<int, Curve> decode;  // batch -> (kv_cache tokens -> ms)
  Curve prefill;                // chunk tokens -> ms, empty KV cache
  double decode_floor = 0, prefill_floor = 0;
};

Result<Attention> attention_of(const std::vector<VidurAttentionRow>& rows) {
  if (rows.empty()) return make_error(ErrorCode::kInvalidArgument, "no attention profile rows");
  Attention a;
  const auto& r0 = rows.front();
  std::map<int, std::map<double, std::vector<double>>> dec;
  std::map<double, std::vector<double>> pre;
  for (const auto& r : rows) {
    if (r.n_embd != r0.n_embd || r.n_q_head != r0.n_q_head || r.n_kv_head != r0.n_kv_head ||
        r.tp != r0.tp)
      return make_error(ErrorCode::kInvalidArgument,
                        "the attention profile mixes model shapes; expected one");
    if (r.prefill) {
      if (r.kv_cache == 0 && r.batch == 1) pre[static_cast<double>(r.chunk)].push_back(r.ms);
    } else {
      dec[r.batch][static_cast<double>(r.kv_cache)].push_back(r.ms);
    }
  }
  if (dec.empty() || pre.size() < 3)
    return make_error(ErrorCode::kInvalidArgument,
                      "the attention profile lacks decode or prefill rows");
  a.q_per_gpu = static_cast<double>(r0.n_q_head) / r0.tp;
  a.kv_per_gpu = static_cast<double>(r0.n_kv_head) / r0.tp;
  a.head_dim = static_cast<double>(r0.n_embd) / r0.n_q_head;
  a.decode_floor = 1e300;
  for (const auto& [b, m] : dec) {
    a.decode[b] = curve_of(m, false);
    a.decode_floor = std::min(a.decode_floor, a.decode[b].min_y());
  }
  a.prefill = curve_of(pre, false);
  a.prefill_floor = a.prefill.min_y();
  return a;
}

struct Vidur {
  Attention attn;
  std::map<std::string, std::map<int, Curve>> all_reduce;  // gpu -> tp -> (bytes -> ms)
  std::map<std::pair<std::string, std::string>, std::map<int, Curve>> mlp;  // (gpu, model) -> tp
  double r_mem = 0, r_cmp = 0;
  std::map<std::pair<std::string, int>, OverheadCalibration> overhead;  // (gpu, tp)

  double ratio(double n) const { return ratio_at(r_mem, r_cmp, n); }

  // The GPU's own layer timings, or the A100 ones scaled by ratio(N) for an H100 without them.
  // Empty when neither exists.
  std::optional<std::pair<const Curve*, bool>> layer_curve(const std::string& gpu,
                                                           const std::string& model, int tp) const {
    auto own = mlp.find({gpu, model});
    if (own != mlp.end()) {
      auto t = own->second.find(tp);
      if (t == own->second.end()) return std::nullopt;
      return std::make_pair(&t->second, false);
    }
    if (gpu != "H100-80GB") return std::nullopt;
    auto a100 = mlp.find({"A100-80GB", model});
    if (a100 == mlp.end()) return std::nullopt;
    auto t = a100->second.find(tp);
    if (t == a100->second.end()) return std::nullopt;
    return std::make_pair(&t->second, true);
  }

  double layer_ms(const std::string& gpu, const std::string& model, int tp, double n) const {
    auto lc = layer_curve(gpu, model, tp);
    const double v = lc->first->at(n);
    return lc->second ? v * ratio(n) : v;
  }

  double all_reduce_ms(const std::string& gpu, int tp, double bytes) const {
    if (tp <= 1) return 0;
    return all_reduce.at(gpu).at(tp).at(bytes);
  }

  // Kernel time of one prefill of `n` tokens (one sequence, empty cache), all layers.
  double prefill_kernels(const std::string& gpu, const ModelArch& m, int tp, double n) const {
    const double head_dim = static_cast<double>(m.hidden) / m.heads;
    const double flops_scale =
        (static_cast<double>(m.heads) / tp * head_dim) / (attn.q_per_gpu * attn.head_dim);
    double at = attn.prefill_floor + (attn.prefill.at(n) - attn.prefill_floor) * flops_scale;
    if (gpu == "H100-80GB") at *= r_cmp;
    const double ar = 2 * all_reduce_ms(gpu, tp, n * m.hidden * m.dtype_bytes);
    return m.layers * (layer_ms(gpu, m.name, tp, n) + at + ar);
  }

  // Kernel time of one decode iteration of `batch` sequences with `ctx` tokens each.
  double decode_kernels(const std::string& gpu, const ModelArch& m, int tp, int batch,
                        double ctx) const {
    const double head_dim = static_cast<double>(m.hidden) / m.heads;
    const double kv_per_gpu = std::max(1.0, static_cast<double>(m.kv_heads) / tp);
    const double bytes_scale = (kv_per_gpu * head_dim) / (attn.kv_per_gpu * attn.head_dim);
    const Curve& c = attn.decode.at(batch);
    double at = attn.decode_floor + (c.at(ctx) - attn.decode_floor) * bytes_scale;
    if (gpu == "H100-80GB") at *= r_mem;
    const double ar =
        2 * all_reduce_ms(gpu, tp, static_cast<double>(batch) * m.hidden * m.dtype_bytes);
    return m.layers * (layer_ms(gpu, m.name, tp, batch) + at + ar);
  }

  // The calibrated overhead for this GPU and TP; TP sizes without a Splitwise measurement take
  // the next larger measured one (TP1 takes TP2's).
  const OverheadCalibration* overhead_for(const std::string& gpu, int tp) const {
    const OverheadCalibration* best = nullptr;
    for (const auto& [k, v] : overhead) {
      if (k.first != gpu || k.second < tp) continue;
      if (!best || k.second < best->tp) best = &v;
    }
    return best;
  }
};

Result<Vidur> vidur_of(const ProfileSet& in) {
  Vidur v;
  auto a = attention_of(in.attention);
  if (!a) return a.error();
  v.attn = std::move(*a);
  for (const auto& ar : in.all_reduce) {
    std::map<int, std::map<double, std::vector<double>>> by_tp;
    for (const auto& r : ar.rows)
      if (r.workers == r.devices_per_node)
        by_tp[r.workers][static_cast<double>(r.bytes)].push_back(r.ms);
    for (const auto& [tp, m] : by_tp)
      v.all_reduce[ar.gpu][tp] = curve_of(m, false);
  }
  for (const auto& f : in.mlp) {
    const ModelArch* m = find_model(f.model);
    if (!m)
      return make_error(ErrorCode::kInvalidArgument, "Vidur profile for unknown model " + f.model);
    std::map<int, std::map<double, std::vector<double>>> by_tp;
    for (const auto& r : f.rows) {
      if (r.n_head != m->heads || r.n_kv_head != m->kv_heads || r.n_embd != m->hidden)
        return make_error(ErrorCode::kInvalidArgument,
                          "Vidur profile " + f.gpu + " " + f.model + " has n_head " +
                              std::to_string(r.n_head) + ", n_kv_head " +
                              std::to_string(r.n_kv_head) + ", n_embd " + std::to_string(r.n_embd) +
                              "; the catalogue disagrees");
      by_tp[r.tp][static_cast<double>(r.num_tokens)].push_back(r.layer_ms);
    }
    // Duplicate num_tokens rows are repeats of one measurement: average them.
    for (const auto& [tp, s] : by_tp)
      v.mlp[{f.gpu, m->name}][tp] = curve_of(s, true);
  }
  return v;
}

// H100/A100 ratios from every model profiled on both.
void derive_ratios(Vidur& v, FitReport& report) {
  std::vector<double> mem, cmp;
  std::map<std::string, std::vector<std::tuple<double, double, double>>>
      pairs;  // model -> (n, a, h)
  for (const auto& [key, tps] : v.mlp) {
    if (key.first != "A100-80GB") continue;
    auto h = v.mlp.find({"H100-80GB", key.second});
    if (h == v.mlp.end()) continue;
    for (const auto& [tp, curve] : tps) {
      auto ht = h->second.find(tp);
      if (ht == h->second.end()) continue;
      for (const auto& [n, ams] : curve.points()) {
        if (!ht->second.has(n)) continue;
        const double hms = ht->second.at(n);
        pairs[key.second].emplace_back(n, ams, hms);
        if (n <= FitReport::kMemoryBoundTokens) mem.push_back(hms / ams);
        if (n >= FitReport::kComputeBoundTokens) cmp.push_back(hms / ams);
      }
    }
  }
  v.r_mem = report.ratio_memory_bound = median_of(mem);
  v.r_cmp = report.ratio_compute_bound = median_of(cmp);
  report.ratio_memory_samples = mem.size();
  report.ratio_compute_samples = cmp.size();
  std::vector<double> all;
  for (const auto& [model, ps] : pairs) {
    std::vector<double> e;
    for (const auto& [n, ams, hms] : ps)
      e.push_back(abs_pct_error(ams * report.h100_ratio(n), hms));
    all.insert(all.end(), e.begin(), e.end());
    report.extrapolation.push_back({model, error_stats(e)});
  }
  report.extrapolation_all = error_stats(all);
}

// Per-layer overhead = median(Splitwise - Vidur kernel sum) / layers, from Llama-2-70B.
void calibrate_overheads(Vidur& v, const std::vector<SplitwiseFitted>& sw, FitReport& report) {
  for (const auto& s : sw) {
    const auto& k = s.fitted.key;
    const ModelArch* m = find_model(k.model);
    if (!v.layer_curve(k.gpu, k.model, k.tp) || !v.all_reduce.count(k.gpu) ||
        !v.all_reduce.at(k.gpu).count(k.tp))
      continue;
    if (v.layer_curve(k.gpu, k.model, k.tp)->second) continue;  // only measured layer times
    OverheadCalibration oc;
    oc.gpu = k.gpu;
    oc.tp = k.tp;
    const auto decode_kernels = [&](const FitPoint& p) {
      return v.decode_kernels(k.gpu, *m, k.tp, static_cast<int>(p.batch), p.context / p.batch);
    };
    std::vector<double> dp, dd;
    for (const auto& p : s.fitted.points) {
      if (p.held_out) continue;
      if (p.prefill && p.batch == 1 && p.tokens <= 512)
        dp.push_back(p.observed_ms - v.prefill_kernels(k.gpu, *m, k.tp, p.tokens));
      if (!p.prefill && p.batch == 1) dd.push_back(p.observed_ms - decode_kernels(p));
    }
    oc.prefill_ms_per_layer = std::max(0.0, median_of(dp)) / m->layers;
    oc.decode_ms_per_layer = std::max(0.0, median_of(dd)) / m->layers;
    std::vector<double> pr, pc, dr, dc;
    for (const auto& p : s.fitted.points) {
      if (p.prefill) {
        if (p.batch != 1) continue;  // the kernel sum is for one sequence
        const double kern = v.prefill_kernels(k.gpu, *m, k.tp, p.tokens);
        pr.push_back(abs_pct_error(kern, p.observed_ms));
        pc.push_back(abs_pct_error(kern + oc.prefill_ms_per_layer * m->layers, p.observed_ms));
      } else {
        if (!v.attn.decode.count(static_cast<int>(p.batch))) continue;
        const double kern = decode_kernels(p);
        dr.push_back(abs_pct_error(kern, p.observed_ms));
        dc.push_back(abs_pct_error(kern + oc.decode_ms_per_layer * m->layers, p.observed_ms));
      }
    }
    oc.prefill_raw = error_stats(pr);
    oc.prefill_calibrated = error_stats(pc);
    oc.decode_raw = error_stats(dr);
    oc.decode_calibrated = error_stats(dc);
    v.overhead[{k.gpu, k.tp}] = oc;
    report.overheads.push_back(oc);
  }
}

constexpr int kVidurBatches[] = {1, 2, 4, 8, 16, 32, 64, 128};
constexpr double kVidurContexts[] = {128, 512, 1024, 2048, 4032};

Result<FittedKey> fit_vidur_key(const Vidur& v, const PerfKey& key, const ModelArch& m) {
  FittedKey fk;
  fk.key = key;
  const OverheadCalibration* oc = v.overhead_for(key.gpu, key.tp);
  const double pre_over = oc ? oc->prefill_ms_per_layer * m.layers : 0;
  const double dec_over = oc ? oc->decode_ms_per_layer * m.layers : 0;
  const Curve& grid = *v.layer_curve(key.gpu, key.model, key.tp)->first;
  const double max_tokens =
      std::min(static_cast<double>(m.context_length.value), v.attn.prefill.points().back().first);
  std::vector<FitPoint> pre, dec;
  for (const auto& [n, ms] : v.attn.prefill.points()) {
    if (n > max_tokens || !grid.has(n)) continue;
    FitPoint p;
    p.prefill = true;
    p.label = "N=" + fmt_int(n);
    p.tokens = n;
    p.batch = 1;
    p.observed_ms = v.prefill_kernels(key.gpu, m, key.tp, n) + pre_over;
    pre.push_back(p);
  }
  for (int b : kVidurBatches) {
    if (!v.attn.decode.count(b) || !grid.has(b)) continue;
    for (double ctx : kVidurContexts) {
      if (ctx > static_cast<double>(m.context_length.value)) continue;
      FitPoint p;
      p.label = "B=" + std::to_string(b) + " ctx=" + fmt_int(ctx);
      p.batch = b;
      p.context = b * ctx;
      p.observed_ms = v.decode_kernels(key.gpu, m, key.tp, b, ctx) + dec_over;
      dec.push_back(p);
    }
  }
  // Held-out rule: in each list (sorted by tokens, or by batch then context), every fifth point
  // starting with the third.
  std::vector<PrefillPoint> pf;
  std::vector<DecodePoint> df;
  for (size_t i = 0; i < pre.size(); ++i) {
    pre[i].held_out = i % 5 == 2;
    if (!pre[i].held_out) pf.push_back({pre[i].tokens, pre[i].observed_ms});
  }
  for (size_t i = 0; i < dec.size(); ++i) {
    dec[i].held_out = i % 5 == 2;
    if (!dec[i].held_out) df.push_back({dec[i].batch, dec[i].context, dec[i].observed_ms});
  }
  auto c = fit_prefill(pf);
  if (!c) return c.error();
  auto c2 = fit_decode(df, *c);
  if (!c2) return c2.error();
  fk.coef = *c2;
  fk.points = std::move(pre);
  fk.points.insert(fk.points.end(), dec.begin(), dec.end());
  return fk;
}

}  // namespace

double FitReport::h100_ratio(double tokens) const {
  return ratio_at(ratio_memory_bound, ratio_compute_bound, tokens);
}

Result<FitReport> fit_profiles(const ProfileSet& in) {
  FitReport report;

  // Splitwise: group rows by (GPU, model, TP).
  std::map<std::tuple<std::string, std::string, int>, SplitwiseKeyData> groups;
  std::map<std::string, int> skipped_hw;
  for (const auto& r : in.splitwise) {
    const GpuSpec* g = find_gpu(r.hardware);
    if (!g) {
      ++skipped_hw[r.hardware];
      continue;
    }
    const ModelArch* m = find_model(r.model);
    if (!m)
      return make_error(ErrorCode::kInvalidArgument,
                        "Splitwise profile for unknown model " + r.model);
    auto& d = groups[{g->name, m->name, r.tp}];
    d.key = PerfKey{g->name, m->name, r.tp, "splitwise"};
    d.prefill[{r.prompt, r.batch}].push_back(r.prompt_ms);
    d.decode[{r.prompt, r.batch, r.tokens}].push_back(r.token_ms);
    ++d.rows[{r.prompt, r.batch, r.tokens}];
  }
  for (const auto& [hw, n] : skipped_hw)
    report.notes.push_back("Splitwise hardware \"" + hw + "\" (" + std::to_string(n) +
                           " rows) is not a GPU model gpufleet knows; left out.");
  std::vector<SplitwiseFitted> sw;
  for (const auto& [k, d] : groups) {
    auto f = fit_splitwise_key(d);
    if (!f) return f.error();
    for (const auto& pb : f->excluded)
      report.excluded.push_back({d.key, pb.first, pb.second,
                                 "prefill under half that of a smaller batch; the whole "
                                 "configuration is left out"});
    sw.push_back(std::move(*f));
  }

  // Vidur.
  auto v = vidur_of(in);
  if (!v) return v.error();
  derive_ratios(*v, report);
  calibrate_overheads(*v, sw, report);
  report.attention_ref_q_heads = v->attn.q_per_gpu;
  report.attention_ref_kv_heads = v->attn.kv_per_gpu;
  report.attention_ref_head_dim = v->attn.head_dim;
  report.attention_decode_floor_ms = v->attn.decode_floor;
  report.attention_prefill_floor_ms = v->attn.prefill_floor;

  std::set<std::tuple<std::string, std::string, int>> covered;
  for (const auto& s : sw) {
    covered.insert({s.fitted.key.gpu, s.fitted.key.model, s.fitted.key.tp});
    report.keys.push_back(s.fitted);
  }
  for (const auto& gpu : gpu_catalog()) {
    for (const auto& m : model_catalog()) {
      auto a100 = v->mlp.find({"A100-80GB", m.name});
      if (a100 == v->mlp.end()) continue;
      for (const auto& [tp, curve] : a100->second) {
        if (covered.count({gpu.name, m.name, tp})) continue;
        auto lc = v->layer_curve(gpu.name, m.name, tp);
        if (!lc) continue;
        const double free = static_cast<double>(to_bytes(gpu.memory).value) *
                                PerfModel::kDefaultMemoryFraction * tp -
                            static_cast<double>(m.weight_bytes().value);
        if (free <= 0) {
          report.notes.push_back(
              m.name + " at TP" + std::to_string(tp) + " on " + gpu.name +
              ": the weights do not fit in " +
              std::to_string(static_cast<int>(PerfModel::kDefaultMemoryFraction * 100)) +
              "% of GPU memory; not fitted.");
          continue;
        }
        if (tp > 1 && (!v->all_reduce.count(gpu.name) || !v->all_reduce.at(gpu.name).count(tp)))
          return make_error(
              ErrorCode::kInvalidArgument,
              "no all-reduce profile for " + gpu.name + " with " + std::to_string(tp) + " GPUs");
        PerfKey key{gpu.name, m.name, tp, lc->second ? "vidur-extrapolated" : "vidur"};
        auto fk = fit_vidur_key(*v, key, m);
        if (!fk) return fk.error();
        report.keys.push_back(std::move(*fk));
      }
    }
  }
  for (auto& k : report.keys)
    finish_stats(k);
  std::sort(report.keys.begin(), report.keys.end(), [](const FittedKey& a, const FittedKey& b) {
    return std::tie(a.key.gpu, a.key.model, a.key.tp) < std::tie(b.key.gpu, b.key.model, b.key.tp);
  });
  return report;
}

}  // namespace gf
