// Least-squares fitting of PerfCoefficients to profile points, and error statistics. Pure: takes
// points, returns numbers.
#pragma once

#include <cstddef>
#include <vector>

#include "common/result.h"
#include "perfmodel/perf_model.h"

namespace gf {

// Minimises the sum of squared *relative* residuals ((X w - y) / y)^2 subject to w >= 0, exactly,
// by solving the normal equations on every subset of columns (fine for up to ~6 columns). Every y
// must be > 0. kInvalidArgument for ragged or empty input.
Result<std::vector<double>> fit_nonnegative_relative(const std::vector<std::vector<double>>& x,
                                                     const std::vector<double>& y);

struct PrefillPoint {
  double tokens = 0;  // prompt tokens in the batch
  double ms = 0;
};

struct DecodePoint {
  double batch = 0;    // sequences
  double context = 0;  // context tokens of the whole batch
  double ms = 0;
};

// Fits prefill_floor/base/per_token/per_token2 (the other fields are left as they are): for every
// split of the points by prompt length, a floor below it and a non-negative quadratic above, then
// keeps the split whose roofline max(floor, quadratic) has the least squared relative error.
Result<PerfCoefficients> fit_prefill(const std::vector<PrefillPoint>& points,
                                     PerfCoefficients into = {});
// Fits decode_base/per_seq/per_ctx_token (non-negative, relative least squares).
Result<PerfCoefficients> fit_decode(const std::vector<DecodePoint>& points,
                                    PerfCoefficients into = {});

// Absolute percentage errors |predicted - observed| / observed * 100.
struct ErrorStats {
  size_t count = 0;
  double median_pct = 0;  // the middle value (mean of the two middle ones for an even count)
  double p90_pct = 0;     // nearest rank
  double max_pct = 0;
};
ErrorStats error_stats(std::vector<double> abs_pct_errors);
double abs_pct_error(double predicted, double observed);

// Median of a sample (mean of the two middle values for an even count); 0 when empty.
double median_of(std::vector<double> v);

}  // namespace gf
