// Envoy's retry budget: requests retrying at once stay under a share of the requests in flight,
// with a floor so that a quiet gateway can still retry. Stops a failing replica set from
// multiplying the load by the retry count.
#pragma once

namespace gf {

struct RetryBudgetConfig {
  double ratio = 0.2;  // of the requests in flight
  int floor = 3;       // retrying requests always allowed
};

class RetryBudget {
 public:
  explicit RetryBudget(RetryBudgetConfig config = {}) : config_(config) {}

  void request_started() { ++active_; }
  // `retrying`: the request held a retry (try_retry() said yes for it).
  void request_ended(bool retrying) {
    --active_;
    if (retrying) --retrying_;
  }
  // A request's first retry: counts it as retrying if the budget has room. A request holds one
  // place however many times it retries.
  bool try_retry();

  int active() const { return active_; }
  int retrying() const { return retrying_; }

 private:
  RetryBudgetConfig config_;
  int active_ = 0;
  int retrying_ = 0;
};

}  // namespace gf
