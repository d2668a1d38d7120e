#include "admission/concurrency_limit.h"

namespace gf {

bool ConcurrencyLimit::try_acquire() {
  if (!has_room()) return false;
  ++in_flight_;
  return true;
}

Status ConcurrencyLimit::release() {
  if (in_flight_ == 0) {
    return make_error(ErrorCode::kFailedPrecondition, "release with nothing in flight");
  }
  --in_flight_;
  return {};
}

}  // namespace gf
