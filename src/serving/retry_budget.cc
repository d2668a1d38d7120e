#include "serving/retry_budget.h"

#include <algorithm>

namespace gf {

bool RetryBudget::try_retry() {
  const double budget = std::max(static_cast<double>(config_.floor), config_.ratio * active_);
  if (retrying_ + 1 > budget) return false;
  ++retrying_;
  return true;
}

}  // namespace gf
