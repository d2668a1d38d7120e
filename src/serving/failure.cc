#include "serving/failure.h"

namespace gf {

FailureClass classify(Failure failure, AttemptPhase phase) {
  if (failure == Failure::kClientGone) return {Outcome::kCancelled, false, false};
  // A replica the table gave no address never saw the request: not an error of its revision.
  if (failure == Failure::kNoAddress) return {Outcome::kConnectFailure, false, true, false};
  // Refused: the engine is not there (it died, or is restarting); another replica may take the
  // request at no cost. An error of its revision all the same (canary analysis).
  if (failure == Failure::kRefused) return {Outcome::kConnectFailure, true, true, false};
  if (failure == Failure::kUpstream5xx) return {Outcome::kServerError, true, true};
  switch (phase) {
    case AttemptPhase::kBeforeHead:
      if (failure == Failure::kTimeout) return {Outcome::kTimeout, true, false};
      return {Outcome::kConnectFailure, true, true};
    case AttemptPhase::kBody:
      return {Outcome::kServerError, true, true};
    case AttemptPhase::kStreaming:
      return {Outcome::kServerError, true, false};
  }
  return {Outcome::kServerError, true, false};
}

}  // namespace gf
