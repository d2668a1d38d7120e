#include "perfmodel/perf_model.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <set>
#include <tuple>

#include "common/gpu_catalog.h"
#include "perfmodel/model_catalog.h"

namespace gf {

namespace {
// Coefficients of a GPU `compute` times slower at prefill (compute-bound: the per-token terms)
// and `bandwidth` times slower at decode (memory-bound: every decode term) than `c`'s. Fixed
// prefill costs stay. Derived GPUs and MIG devices both scale this way.
PerfCoefficients slowed(PerfCoefficients c, double compute, double bandwidth) {
  c.prefill_per_token_ms *= compute;
  c.prefill_per_token2_ms *= compute;
  c.decode_base_ms *= bandwidth;
  c.decode_per_seq_ms *= bandwidth;
  c.decode_per_ctx_token_ms *= bandwidth;
  return c;
}

struct FittedEntry {
  const char* gpu;
  const char* model;
  int tp;
  const char* source;
  PerfCoefficients coef;
};

// Written by tools/perfmodel_fit (see docs/perfmodel.md); do not edit by hand.
const FittedEntry kFitted[] = {
#include "perfmodel/fitted_coefficients.inc"
};

Duration from_ms(double ms) {
  if (!(ms > 0)) return Duration(0);
  const double ns = ms * 1e6;
  if (ns >= static_cast<double>(std::numeric_limits<int64_t>::max())) return Duration::max();
  // Round half up: ns > 0 here, where it equals llround, and is a tenth of its cost (every
  // simulated iteration is priced through here).
  return Duration(static_cast<int64_t>(ns + 0.5));
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v)
    out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

double PerfCoefficients::prefill_ms(double p) const {
  if (!(p > 0)) return 0;
  return std::max(prefill_floor_ms,
                  prefill_base_ms + prefill_per_token_ms * p + prefill_per_token2_ms * p * p);
}

double PerfCoefficients::decode_ms(double batch, double context) const {
  if (!(batch > 0)) return 0;
  return decode_base_ms + decode_per_seq_ms * batch +
         decode_per_ctx_token_ms * std::max(0.0, context);
}

double PerfCoefficients::mixed_ms(double p, double attention, double batch, double context) const {
  if (!(p > 0)) return decode_ms(batch, context);
  const double chunks =
      std::max(prefill_floor_ms, prefill_base_ms + prefill_per_token_ms * p +
                                     prefill_per_token2_ms * std::max(0.0, attention));
  if (!(batch > 0)) return chunks;
  return std::max(chunks, decode_base_ms) + decode_per_seq_ms * batch +
         decode_per_ctx_token_ms * std::max(0.0, context);
}

Status PerfCoefficients::validate() const {
  const std::pair<const char*, double> fields[] = {
      {"prefillBaseMs", prefill_base_ms},
      {"prefillPerTokenMs", prefill_per_token_ms},
      {"prefillPerToken2Ms", prefill_per_token2_ms},
      {"prefillFloorMs", prefill_floor_ms},
      {"decodeBaseMs", decode_base_ms},
      {"decodePerSeqMs", decode_per_seq_ms},
      {"decodePerCtxTokenMs", decode_per_ctx_token_ms}};
  for (const auto& [name, v] : fields)
    if (!std::isfinite(v) || v < 0)
      return make_error(ErrorCode::kInvalidArgument,
                        std::string("performance coefficient ") + name +
                            " must be a finite number >= 0, got " + std::to_string(v));
  if (decode_base_ms + decode_per_seq_ms <= 0)
    return make_error(ErrorCode::kInvalidArgument,
                      "performance coefficients give a decode iteration no cost; set "
                      "decodeBaseMs or decodePerSeqMs");
  return {};
}

Bytes ModelArch::kv_bytes_per_token() const {
  if (heads <= 0) return Bytes(0);
  const int64_t head_dim = hidden / heads;
  return Bytes(int64_t{2} * layers * kv_heads * head_dim * dtype_bytes);
}

Result<ModelArch> PerfModel::arch_of(const std::string& model) {
  if (const ModelArch* m = find_model(model)) return *m;
  return make_error(ErrorCode::kNotFound,
                    "unknown model \"" + model + "\"; known: " + join(known_models()));
}

std::vector<std::string> PerfModel::known_gpus() {
  std::vector<std::string> out;
  for (const auto& g : gpu_catalog())
    out.push_back(g.name);
  return out;
}

std::vector<std::string> PerfModel::known_models() {
  std::vector<std::string> out;
  for (const auto& m : model_catalog())
    out.push_back(m.name);
  return out;
}

std::vector<PerfKey> PerfModel::known_pairs() {
  std::vector<PerfKey> out;
  for (const auto& e : kFitted)
    out.push_back(PerfKey{e.gpu, e.model, e.tp, e.source});
  std::sort(out.begin(), out.end(), [](const PerfKey& a, const PerfKey& b) {
    return std::tie(a.gpu, a.model, a.tp) < std::tie(b.gpu, b.model, b.tp);
  });
  return out;
}

Result<PerfModel> PerfModel::derive(const std::string& gpu, const std::string& model, int tp,
                                    const std::string& reference) {
  const GpuHardware* hw = find_gpu_hardware(gpu);
  const GpuHardware* ref = find_gpu_hardware(reference);
  if (hw == nullptr || ref == nullptr)
    return make_error(ErrorCode::kNotFound, "cannot derive " + gpu + " from " + reference +
                                                ": not both in the GPU catalogue");
  auto base = lookup(ref->name, model, tp);
  if (!base || base->source_.rfind("derived", 0) == 0)
    return make_error(ErrorCode::kNotFound, "no measured profile of " + model +
                                                " tp=" + std::to_string(tp) + " on " + ref->name);
  const double compute = ref->bf16_dense_tflops / hw->bf16_dense_tflops;
  const double bandwidth = ref->memory_bandwidth_gbs / hw->memory_bandwidth_gbs;
  PerfModel pm = *base;
  pm.gpu_ = hw->name;
  pm.coef_ = slowed(base->coef_, compute, bandwidth);
  pm.source_ = "derived from " + ref->name;
  return pm;
}

std::vector<PerfKey> PerfModel::derived_pairs() {
  std::vector<PerfKey> out;
  const std::vector<std::string> measured = known_gpus();
  for (const GpuHardware& hw : gpu_hardware()) {
    if (std::find(measured.begin(), measured.end(), hw.name) != measured.end()) continue;
    std::set<std::pair<std::string, int>> seen;
    for (const auto& e : kFitted) {
      if (!seen.insert({e.model, e.tp}).second) continue;
      auto pm = lookup(hw.name, e.model, e.tp);
      if (pm.ok()) out.push_back(PerfKey{hw.name, e.model, e.tp, pm->source()});
    }
  }
  std::sort(out.begin(), out.end(), [](const PerfKey& a, const PerfKey& b) {
    return std::tie(a.gpu, a.model, a.tp) < std::tie(b.gpu, b.model, b.tp);
  });
  return out;
}

Result<std::string> PerfModel::canonical_gpu(const std::string& gpu_model) {
  if (const GpuSpec* g = find_gpu(gpu_model)) return g->name;
  if (const GpuHardware* h = find_gpu_hardware(gpu_model)) return h->name;
  if (auto mig = parse_mig_name(gpu_model)) return mig_catalogue_name(*mig->parent, mig->profile);
  return make_error(ErrorCode::kNotFound,
                    "unknown GPU model \"" + gpu_model + "\"; known: " + join(known_gpus()));
}

MiB PerfModel::gpu_memory_of(const std::string& gpu_model) {
  if (const GpuSpec* g = find_gpu(gpu_model)) return g->memory;
  if (const GpuHardware* h = find_gpu_hardware(gpu_model)) return h->memory;
  if (auto mig = parse_mig_name(gpu_model)) return mig->shape.memory;
  return MiB(0);
}

Tokens PerfModel::default_max_batched_tokens(const std::string& gpu_model) {
  // vllm/engine/arg_utils.py (get_batch_defaults): larger budgets for big GPUs, but not A100s,
  // where they measured a throughput regression.
  auto canonical = canonical_gpu(gpu_model);
  std::string name = canonical.ok() ? *canonical : gpu_model;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  const bool big = gpu_memory_of(gpu_model).value >= 70 * 1024;
  return Tokens(big && name.find("a100") == std::string::npos ? 8192 : 2048);
}

Result<PerfModel> PerfModel::lookup(const std::string& gpu_model, const std::string& model, int tp,
                                    const std::optional<PerfCoefficients>& manual) {
  if (tp < 1)
    return make_error(ErrorCode::kInvalidArgument,
                      "tensor-parallel size must be >= 1, got " + std::to_string(tp));
  auto arch = arch_of(model);
  if (!arch) return arch.error();
  const GpuSpec* gpu = find_gpu(gpu_model);
  const GpuHardware* hw = find_gpu_hardware(gpu_model);
  const std::optional<MigName> mig = gpu || hw ? std::nullopt : parse_mig_name(gpu_model);
  if (mig && tp != 1)
    return make_error(ErrorCode::kInvalidArgument,
                      "a MIG device (" + gpu_model +
                          ") runs one engine on itself alone: tensor-parallel size must be 1, "
                          "got " +
                          std::to_string(tp));
  PerfModel pm;
  pm.arch_ = *arch;
  pm.tp_ = tp;
  pm.gpu_ = gpu   ? gpu->name
            : hw  ? hw->name
            : mig ? mig_catalogue_name(*mig->parent, mig->profile)
                  : gpu_model;
  if (manual) {
    if (auto st = manual->validate(); !st) return st.error();
    pm.coef_ = *manual;
    pm.source_ = "manual";
    return pm;
  }
  if (gpu) {
    for (const auto& e : kFitted) {
      if (gpu->name == e.gpu && arch->name == e.model && tp == e.tp) {
        pm.coef_ = e.coef;
        pm.source_ = e.source;
        return pm;
      }
    }
  } else if (mig) {
    // A slice of a GPU: its parent's model (measured or derived), prefill slowed by the share of
    // compute slices it has, decode by its share of memory (MIG divides bandwidth with memory).
    if (auto parent = lookup(mig->parent->name, arch->name, 1); parent.ok()) {
      const double compute = static_cast<double>(kMigComputeSlices) / mig->shape.compute_slices;
      const double bandwidth = static_cast<double>(mig->parent->memory.value) /
                               static_cast<double>(mig->shape.memory.value);
      pm.coef_ = slowed(parent->coef_, compute, bandwidth);
      pm.source_ =
          "MIG " + mig->profile + " of " + mig->parent->name + " (" + parent->source_ + ")";
      return pm;
    }
  } else if (hw != nullptr) {
    // Not measured, but its datasheet is known: derive from the measured GPU nearest in memory
    // bandwidth that has this pair.
    std::vector<std::string> refs = known_gpus();
    std::sort(refs.begin(), refs.end(), [&](const std::string& a, const std::string& b) {
      auto gap = [&](const std::string& r) {
        const GpuHardware* h = find_gpu_hardware(r);
        return h ? std::abs(std::log(h->memory_bandwidth_gbs / hw->memory_bandwidth_gbs)) : 1e9;
      };
      return gap(a) < gap(b);
    });
    for (const std::string& ref : refs)
      if (auto d = derive(hw->name, arch->name, tp, ref); d.ok()) return d;
  }
  std::vector<std::string> same_model, all;
  for (const auto& k : known_pairs()) {
    all.push_back(k.gpu + " " + k.model + " tp=" + std::to_string(k.tp));
    if (k.model == arch->name) same_model.push_back(k.gpu + " tp=" + std::to_string(k.tp));
  }
  std::string msg = "no fitted performance model for " + arch->name + " on " + gpu_model +
                    " with tp=" + std::to_string(tp) + "; ";
  if (!gpu && !hw && !mig) {
    std::vector<std::string> derived;
    for (const GpuHardware& h : gpu_hardware())
      if (find_gpu(h.name) == nullptr) derived.push_back(h.name);
    msg += "known GPU models: measured " + join(known_gpus()) + ", derived from them " +
           join(derived) + "; ";
  }
  msg += same_model.empty() ? "known pairs: " + join(all)
                            : "known for " + arch->name + ": " + join(same_model);
  msg += ". Give the coefficients in the manifest to use another combination";
  return make_error(ErrorCode::kNotFound, std::move(msg));
}

Duration PerfModel::prefill_time(Tokens prompt_tokens) const {
  return from_ms(coef_.prefill_ms(static_cast<double>(prompt_tokens.value)));
}

Duration PerfModel::decode_iteration_time(int batch, Tokens context_tokens) const {
  return from_ms(coef_.decode_ms(batch, static_cast<double>(context_tokens.value)));
}

Duration PerfModel::mixed_iteration_time(Tokens prefill_tokens, double attention, int batch,
                                         Tokens context_tokens) const {
  return from_ms(coef_.mixed_ms(static_cast<double>(prefill_tokens.value), attention, batch,
                                static_cast<double>(context_tokens.value)));
}

Tokens PerfModel::kv_capacity(MiB gpu_memory, double memory_fraction) const {
  const int64_t per_token = arch_.kv_bytes_per_token().value;
  if (per_token <= 0 || !(memory_fraction > 0)) return Tokens(0);
  // Integer bytes: floor(memory x fraction) per GPU, times TP, minus the weights.
  const double usable_per_gpu =
      std::floor(static_cast<double>(to_bytes(gpu_memory).value) * std::min(memory_fraction, 1.0));
  const int64_t free_bytes =
      static_cast<int64_t>(usable_per_gpu) * tp_ - arch_.weight_bytes().value;
  if (free_bytes <= 0) return Tokens(0);
  return Tokens(free_bytes / per_token);
}

Duration PerfModel::cold_start(double load_bytes_per_second, Duration engine_init) const {
  if (!(load_bytes_per_second > 0)) return Duration::max();
  const double seconds = static_cast<double>(arch_.weight_bytes().value) / load_bytes_per_second;
  const double ns = seconds * 1e9 + static_cast<double>(engine_init.count());
  if (ns >= static_cast<double>(std::numeric_limits<int64_t>::max())) return Duration::max();
  return Duration(static_cast<int64_t>(std::llround(ns)));
}

double PerfModel::sustainable_rps(const SloTarget& slo, Tokens avg_prompt,
                                  Tokens avg_output) const {
  const MiB mem = gpu_memory_of(gpu_);
  const Tokens kv = mem.value > 0 ? kv_capacity(mem, kDefaultMemoryFraction) : Tokens(0);
  if (mem.value > 0 && kv.value <= 0) return 0;  // the weights do not even fit
  return sustainable_rps(slo, avg_prompt, avg_output, kv);
}

// A steady-state model of a vLLM-style engine that runs prefills and decode iterations in turn
// (no chunked prefill), at arrival rate L requests/s of P prompt and O output tokens:
//   prefill share     rho = L * prefill(P) / 1000
//   decode batch      B   = L * (O - 1) * TPOT / 1000            (Little's law)
//   TPOT              = decode(B, B * (P + O/2)) / (1 - rho)      (prefills stall decodes)
//                     = d0 / (1 - rho - L * (O-1) * k / 1000)  with k = d_seq + d_ctx * (P + O/2)
//   TTFT              = prefill(P) + rho * prefill(P) / (2 (1 - rho))   (M/D/1 wait for prefill)
//                       + min(1, B) * decode(B) / 2              (the iteration in flight)
// and the largest L with TTFT <= slo.ttft, TPOT <= slo.tpot, B * (P + O/2) <= KV cache and
// B <= kMaxBatch, found by bisection (TTFT and TPOT are treated as medians). Every term grows with
// L, so the answer shrinks as targets tighten.
double PerfModel::sustainable_rps(const SloTarget& slo, Tokens avg_prompt, Tokens avg_output,
                                  Tokens kv_capacity_tokens) const {
  const double p = static_cast<double>(std::max<int64_t>(avg_prompt.value, 0));
  const double o = static_cast<double>(std::max<int64_t>(avg_output.value, 1));
  const double ttft_ms = to_ms(slo.ttft);
  const double tpot_ms = to_ms(slo.tpot);
  const double tp_ms = coef_.prefill_ms(p);
  const double ctx = p + o / 2;
  const double k = coef_.decode_per_seq_ms + coef_.decode_per_ctx_token_ms * ctx;
  const double d0 = coef_.decode_base_ms;
  const double kv = static_cast<double>(kv_capacity_tokens.value);

  const auto feasible = [&](double rate) {
    const double rho = rate * tp_ms / 1000;
    if (rho >= 1) return false;
    double tpot = 0, batch = 0;
    if (o > 1) {
      const double denom = 1 - rho - rate * (o - 1) * k / 1000;
      if (denom <= 0) return false;
      tpot = d0 / denom;
      batch = rate * (o - 1) * tpot / 1000;
      if (tpot > tpot_ms) return false;
      if (batch > kMaxBatch) return false;
      if (kv > 0 && batch * ctx > kv) return false;
    }
    const double wait = rho * tp_ms / (2 * (1 - rho));
    const double in_flight =
        batch > 0 ? std::min(1.0, batch) * coef_.decode_ms(batch, batch * ctx) / 2 : 0;
    return tp_ms + wait + in_flight <= ttft_ms;
  };

  if (kv > 0 && ctx > kv) return 0;  // one average request does not fit
  // A fixed bracket and step count: tighter targets then can only end lower.
  constexpr double kMaxRate = 1e6;
  if (feasible(kMaxRate)) return kMaxRate;
  double lo = 0, hi = kMaxRate;
  for (int i = 0; i < 100; ++i) {
    const double mid = (lo + hi) / 2;
    (feasible(mid) ? lo : hi) = mid;
  }
  return lo;
}

}  // namespace gf
