#include "perfmodel/fit.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace gf {
namespace {

// Solves a (small, dense) symmetric system by Gaussian elimination with partial pivoting.
// False when it is singular to working precision.
bool solve(std::vector<std::vector<double>> a, std::vector<double> b, std::vector<double>& out) {
  const size_t n = b.size();
  double scale = 0;
  for (const auto& row : a)
    for (double v : row)
      scale = std::max(scale, std::abs(v));
  if (scale == 0) return false;
  for (size_t c = 0; c < n; ++c) {
    size_t p = c;
    for (size_t r = c + 1; r < n; ++r)
      if (std::abs(a[r][c]) > std::abs(a[p][c])) p = r;
    if (std::abs(a[p][c]) <= 1e-12 * scale) return false;
    std::swap(a[c], a[p]);
    std::swap(b[c], b[p]);
    for (size_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = a[r][c] / a[c][c];
      if (f == 0) continue;
      for (size_t k = c; k < n; ++k)
        a[r][k] -= f * a[c][k];
      b[r] -= f * b[c];
    }
  }
  out.assign(n, 0);
  for (size_t i = 0; i < n; ++i)
    out[i] = b[i] / a[i][i];
  return true;
}

double prefill_loss(const PerfCoefficients& c, const std::vector<PrefillPoint>& pts) {
  double loss = 0;
  for (const auto& p : pts) {
    const double r = (c.prefill_ms(p.tokens) - p.ms) / p.ms;
    loss += r * r;
  }
  return loss;
}

}  // namespace

Result<std::vector<double>> fit_nonnegative_relative(const std::vector<std::vector<double>>& x,
                                                     const std::vector<double>& y) {
  if (x.empty() || x.size() != y.size())
    return make_error(ErrorCode::kInvalidArgument, "fit needs as many rows as observations");
  const size_t m = x[0].size();
  if (m == 0 || m > 12) return make_error(ErrorCode::kInvalidArgument, "fit needs 1 to 12 columns");
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i].size() != m) return make_error(ErrorCode::kInvalidArgument, "ragged fit matrix");
    if (!(y[i] > 0) || !std::isfinite(y[i]))
      return make_error(ErrorCode::kInvalidArgument, "fit observations must be positive");
  }
  // Rows divided by y (relative residuals), columns scaled to a max of 1 so that the normal
  // equations stay well conditioned when one column is tokens^2.
  const size_t n = y.size();
  std::vector<std::vector<double>> a(n, std::vector<double>(m));
  std::vector<double> col_scale(m, 0);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < m; ++j) {
      a[i][j] = x[i][j] / y[i];
      col_scale[j] = std::max(col_scale[j], std::abs(a[i][j]));
    }
  for (size_t j = 0; j < m; ++j) {
    if (col_scale[j] == 0) col_scale[j] = 1;
    for (size_t i = 0; i < n; ++i)
      a[i][j] /= col_scale[j];
  }
  std::vector<double> best(m, 0);
  double best_sse = static_cast<double>(n);  // the all-zero solution
  for (uint32_t mask = 1; mask < (1u << m); ++mask) {
    std::vector<size_t> idx;
    for (size_t j = 0; j < m; ++j)
      if (mask >> j & 1u) idx.push_back(j);
    const size_t k = idx.size();
    std::vector<std::vector<double>> ata(k, std::vector<double>(k, 0));
    std::vector<double> atb(k, 0);
    for (size_t i = 0; i < n; ++i)
      for (size_t p = 0; p < k; ++p) {
        atb[p] += a[i][idx[p]];  // the target is all ones
        for (size_t q = 0; q < k; ++q)
          ata[p][q] += a[i][idx[p]] * a[i][idx[q]];
      }
    std::vector<double> w;
    if (!solve(ata, atb, w)) continue;
    if (std::any_of(w.begin(), w.end(), [](double v) { return v < 0; })) continue;
    double sse = 0;
    for (size_t i = 0; i < n; ++i) {
      double fit = 0;
      for (size_t p = 0; p < k; ++p)
        fit += a[i][idx[p]] * w[p];
      sse += (fit - 1) * (fit - 1);
    }
    if (sse < best_sse) {
      best_sse = sse;
      std::fill(best.begin(), best.end(), 0);
      for (size_t p = 0; p < k; ++p)
        best[idx[p]] = w[p];
    }
  }
  for (size_t j = 0; j < m; ++j)
    best[j] /= col_scale[j];
  return best;
}

Result<PerfCoefficients> fit_prefill(const std::vector<PrefillPoint>& points,
                                     PerfCoefficients into) {
  if (points.empty()) return make_error(ErrorCode::kInvalidArgument, "no prefill points to fit");
  std::set<double> distinct;
  for (const auto& p : points) {
    if (!(p.ms > 0) || !(p.tokens > 0))
      return make_error(ErrorCode::kInvalidArgument, "prefill points need tokens > 0 and ms > 0");
    distinct.insert(p.tokens);
  }
  const std::vector<double> lengths(distinct.begin(), distinct.end());
  bool found = false;
  double best_loss = std::numeric_limits<double>::infinity();
  PerfCoefficients best = into;
  // Split s: points with tokens <= lengths[s] sit on the floor (none for s = -1); the quadratic
  // is fitted to the rest, which must hold at least three lengths.
  for (int s = -1; s + 3 < static_cast<int>(lengths.size()); ++s) {
    const double threshold = s < 0 ? -1 : lengths[s];
    double inv = 0, inv2 = 0;
    std::vector<std::vector<double>> x;
    std::vector<double> y;
    for (const auto& p : points) {
      if (p.tokens <= threshold) {
        inv += 1 / p.ms;
        inv2 += 1 / (p.ms * p.ms);
      } else {
        x.push_back({1.0, p.tokens, p.tokens * p.tokens});
        y.push_back(p.ms);
      }
    }
    auto w = fit_nonnegative_relative(x, y);
    if (!w) return w.error();
    PerfCoefficients c = into;
    c.prefill_floor_ms = inv2 > 0 ? inv / inv2 : 0;
    c.prefill_base_ms = (*w)[0];
    c.prefill_per_token_ms = (*w)[1];
    c.prefill_per_token2_ms = (*w)[2];
    const double loss = prefill_loss(c, points);
    if (!found || loss < best_loss) {
      found = true;
      best_loss = loss;
      best = c;
    }
  }
  if (!found)
    return make_error(ErrorCode::kInvalidArgument,
                      "prefill fit needs at least three prompt lengths");
  return best;
}

Result<PerfCoefficients> fit_decode(const std::vector<DecodePoint>& points, PerfCoefficients into) {
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  for (const auto& p : points) {
    x.push_back({1.0, p.batch, p.context});
    y.push_back(p.ms);
  }
  auto w = fit_nonnegative_relative(x, y);
  if (!w) return w.error();
  into.decode_base_ms = (*w)[0];
  into.decode_per_seq_ms = (*w)[1];
  into.decode_per_ctx_token_ms = (*w)[2];
  return into;
}

double abs_pct_error(double predicted, double observed) {
  return std::abs(predicted - observed) / observed * 100.0;
}

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

ErrorStats error_stats(std::vector<double> e) {
  ErrorStats s;
  s.count = e.size();
  if (e.empty()) return s;
  std::sort(e.begin(), e.end());
  s.median_pct = median_of(e);
  const size_t rank = static_cast<size_t>(std::ceil(0.9 * static_cast<double>(e.size())));
  s.p90_pct = e[std::max<size_t>(rank, 1) - 1];
  s.max_pct = e.back();
  return s;
}

}  // namespace gf
