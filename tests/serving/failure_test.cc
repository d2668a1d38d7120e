// The failure table: what the router learns and whether another replica may take the request.
#include "serving/failure.h"

#include <gtest/gtest.h>

namespace gf {
namespace {

struct Row {
  Failure failure;
  AttemptPhase phase;
  Outcome outcome;
  bool error;
  bool retry;
};

TEST(Failure, EachClassMapsToOneOutcomeAndRetryDecision) {
  using F = Failure;
  using P = AttemptPhase;
  const Row rows[] = {
      {F::kNoAddress, P::kBeforeHead, Outcome::kConnectFailure, false, true},
      {F::kConnect, P::kBeforeHead, Outcome::kConnectFailure, true, true},
      {F::kRefused, P::kBeforeHead, Outcome::kConnectFailure, true, true},
      {F::kDrained, P::kBeforeHead, Outcome::kConnectFailure, true, true},
      {F::kTimeout, P::kBeforeHead, Outcome::kTimeout, true, false},  // answered 504
      {F::kUpstream5xx, P::kBeforeHead, Outcome::kServerError, true, true},
      {F::kReset, P::kBody, Outcome::kServerError, true, true},
      {F::kTimeout, P::kBody, Outcome::kServerError, true, true},
      {F::kDrained, P::kBody, Outcome::kServerError, true, true},
      {F::kReset, P::kStreaming, Outcome::kServerError, true, false},
      {F::kDrained, P::kStreaming, Outcome::kServerError, true, false},
      {F::kTimeout, P::kStreaming, Outcome::kServerError, true, false},
      {F::kClientGone, P::kBeforeHead, Outcome::kCancelled, false, false},
      {F::kClientGone, P::kBody, Outcome::kCancelled, false, false},
      {F::kClientGone, P::kStreaming, Outcome::kCancelled, false, false},
  };
  for (const Row& r : rows) {
    const FailureClass c = classify(r.failure, r.phase);
    SCOPED_TRACE(testing::Message()
                 << static_cast<int>(r.failure) << " in phase " << static_cast<int>(r.phase));
    EXPECT_EQ(c.outcome, r.outcome);
    EXPECT_EQ(c.counts_as_error, r.error);
    EXPECT_EQ(c.retry, r.retry);
  }
}

}  // namespace
}  // namespace gf
