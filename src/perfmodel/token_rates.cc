#include "perfmodel/token_rates.h"

#include <algorithm>

namespace gf {

double TokenRates::replicas(double prompt_tps, double output_tps) const {
  return (prefill_tps > 0 ? prompt_tps / prefill_tps : 0) +
         (decode_tps > 0 ? output_tps / decode_tps : 0);
}

TokenRates token_rates(const PerfModel& pm, double prompt, double output, FractionalMs itl) {
  const double itl_ms = itl.count();
  TokenRates r;
  const double prefill_ms = to_ms(pm.prefill_time(Tokens(static_cast<int64_t>(prompt))));
  if (prefill_ms > 0) r.prefill_tps = prompt / (prefill_ms / 1000);
  const double ctx = prompt + output / 2;
  const auto iteration_ms = [&](int batch) {
    return to_ms(pm.decode_iteration_time(batch, Tokens(static_cast<int64_t>(batch * ctx))));
  };
  // An iteration costs a fixed part plus a part per sequence (PerfCoefficients::decode_ms), so it
  // grows with the batch and so does the batch's throughput: the best batch within the target is
  // the largest one. Found by bisection: this runs every control period, the planner's own scan
  // of every batch size every adjustment interval.
  int lo = 1, hi = PerfModel::kMaxBatch;
  if (iteration_ms(hi) <= itl_ms) {
    lo = hi;
  } else {
    while (hi - lo > 1) {  // iteration_ms(hi) > itl_ms; lo is 1 or fits
      const int mid = lo + (hi - lo) / 2;
      (iteration_ms(mid) <= itl_ms ? lo : hi) = mid;
    }
  }
  const double it = iteration_ms(lo);
  if (it > 0) r.decode_tps = lo / (it / 1000);
  return r;
}

}  // namespace gf
