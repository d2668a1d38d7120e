// Weighted fairness when clients are closed loops (each sends its next request when one
// completes), as real SDK clients and the gateway integration test are: with equal numbers of
// requests outstanding, only the queue's order can give a weight-3 tenant three times the
// service. A large DRR quantum fails this (it serves by queue length); the default must not.
#include <gtest/gtest.h>

#include <deque>

#include "admission/admission_controller.h"
#include "admission/tenant_directory.h"
#include "common/clock.h"

namespace gf {
namespace {

std::map<std::string, int> run(AdmissionConfig config, int64_t request_tokens) {
  TenantSpec a;
  a.name = "a";
  a.weight = 1;
  TenantSpec b;
  b.name = "b";
  b.weight = 3;
  auto dir = TenantDirectory::create({a, b}, TenantDirectoryOptions{std::nullopt});
  EXPECT_TRUE(dir.ok());
  ManualClock clock;
  auto ac = AdmissionController::create(*dir, config, clock.now());
  EXPECT_TRUE(ac.ok());
  ac->set_model_capacity("m", 2, clock.now());
  uint64_t next = 1;
  std::map<uint64_t, std::string> owner;
  std::deque<uint64_t> in_flight;
  auto submit = [&](const std::string& t) {
    uint64_t id = next++;
    owner[id] = t;
    auto d = ac->admit(AdmitRequest{id, t, "m", Tokens(request_tokens), std::nullopt}, clock.now());
    if (std::holds_alternative<Admitted>(d)) in_flight.push_back(id);
  };
  for (int k = 0; k < 8; ++k) {
    submit("a");
    submit("b");
  }
  std::map<std::string, int> served;
  for (int step = 0; step < 400; ++step) {
    while (auto d = ac->dispatch())
      in_flight.push_back(d->id);
    EXPECT_FALSE(in_flight.empty());
    if (in_flight.empty()) break;
    uint64_t done = in_flight.front();
    in_flight.pop_front();
    EXPECT_TRUE(ac->release(done, Tokens(request_tokens), clock.now()).ok());
    served[owner[done]]++;
    submit(owner[done]);
    clock.advance(std::chrono::milliseconds(10));
  }
  return served;
}

TEST(ClosedLoopFairness, DefaultQuantumFollowsTheWeights) {
  for (int64_t tokens : {4, 260, 3000}) {
    auto served = run(AdmissionConfig{}, tokens);
    double share_b = static_cast<double>(served["b"]) / (served["a"] + served["b"]);
    EXPECT_NEAR(share_b, 0.75, 0.075)
        << tokens << "-token requests: a=" << served["a"] << " b=" << served["b"];
  }
}

TEST(ClosedLoopFairness, AHugeQuantumServesByQueueLengthInstead) {
  AdmissionConfig c;
  c.queue.quantum = Tokens(1 << 20);
  auto served = run(c, 4);
  double share_b = static_cast<double>(served["b"]) / (served["a"] + served["b"]);
  EXPECT_LT(share_b, 0.6);  // the failure the default avoids
}

}  // namespace
}  // namespace gf
