// Random sequences of arrivals, dispatches, picks, outcomes, cancels, expiries, table changes and
// clock steps (seeded): every admitted request ends exactly once, admission's in-flight counts
// match the requests held, and the router's outstanding counts return to zero.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "serving/serving.h"
#include "serving_fixture.h"

namespace gf {
namespace {

using std::chrono::milliseconds;
using testing_serving::model;
using testing_serving::ServingTest;
using testing_serving::tenant;

enum class State { kQueued, kReady, kAttempt, kBetween };

class ServingProperty : public ServingTest {
 protected:
  void run(uint32_t seed);
  void step();
  void pump();
  void check() const;
  void end(RequestId id) {
    ASSERT_EQ(ended.count(id), 0u) << "request " << id << " ended twice";
    ASSERT_EQ(held.erase(id), 1u);
    ended.insert(id);
  }

  std::mt19937 rng;
  std::map<RequestId, State> held;  // the model of what the core holds
  std::set<RequestId> ended;
};

void ServingProperty::step() {
  const TimePoint now = clock.now();
  const int op = static_cast<int>(rng() % 12);
  auto any = [&](State want) -> std::optional<RequestId> {
    std::vector<RequestId> ids;
    for (const auto& [id, s] : held)
      if (s == want) ids.push_back(id);
    if (ids.empty()) return std::nullopt;
    return ids[rng() % ids.size()];
  };
  if (op < 3) {
    AdmitResult r = admit(rng() % 2 ? "a" : "b", "llama", 1 + rng() % 50, rng() % 50);
    if (auto* e = std::get_if<Entered>(&r))
      held[e->id] = e->queued ? State::kQueued : State::kReady;
  } else if (op == 3) {
    clock.advance(milliseconds(rng() % 100));
  } else if (op == 4 || op == 5) {
    auto id = any(rng() % 2 ? State::kReady : State::kBetween);
    if (!id) return;
    PickResult p = core->pick(*id, RouteHints{}, now);
    if (std::holds_alternative<Attempt>(p)) {
      held[*id] = State::kAttempt;
    } else {
      core->finish(*id, Tokens(0), now);  // the gateway answers 503
      end(*id);
    }
  } else if (op == 6 || op == 7) {
    auto id = any(State::kAttempt);
    if (!id) return;
    const int what = static_cast<int>(rng() % 4);
    if (what == 0 && core->retry_head(*id, 503)) {
      held[*id] = State::kBetween;
      ASSERT_TRUE(
          core->fail(*id, Failure::kUpstream5xx, AttemptPhase::kBeforeHead, milliseconds(1), now)
              .retry);
    } else if (what == 1) {
      const Failure f = static_cast<Failure>(rng() % 7);
      const AttemptPhase ph = static_cast<AttemptPhase>(rng() % 3);
      held[*id] = State::kBetween;
      if (!core->fail(*id, f, ph, milliseconds(1), now).retry) {
        core->finish(*id, Tokens(0), now);
        end(*id);
      }
    } else {
      core->succeed(*id, 200, milliseconds(1), now);
      core->finish(*id, Tokens(static_cast<int64_t>(rng() % 200)), now);
      end(*id);
    }
  } else if (op == 8) {
    if (held.empty()) return;
    auto it = held.begin();
    std::advance(it, static_cast<long>(rng() % held.size()));
    const RequestId id = it->first;
    core->cancel(id, now);  // the client left, whatever the request's state
    end(id);
  } else if (op == 9) {
    for (const Expiry& e : core->expire(now)) {
      ASSERT_EQ(held.at(e.id), State::kQueued);
      end(e.id);
    }
  } else if (op == 10) {
    RoutingTable t{core->table().version + 1, {model("llama", static_cast<int>(rng() % 4))}};
    ASSERT_TRUE(core->apply_table(t, now).ok());
  } else {
    clock.advance(milliseconds(rng() % 3000));
  }
}

// What the gateway does after every event: hand out the queued requests that now hold a slot.
void ServingProperty::pump() {
  while (auto id = core->dispatch()) {
    ASSERT_EQ(held.at(*id), State::kQueued);
    held[*id] = State::kReady;
  }
}

void ServingProperty::check() const {
  ASSERT_EQ(core->live_requests(), static_cast<int>(held.size()));
  int in_flight = 0, attempts = 0;
  for (const auto& [id, s] : held) {
    in_flight += s != State::kQueued;
    attempts += s == State::kAttempt;
  }
  const ModelDemand d = core->demand("llama", clock.now());
  ASSERT_EQ(d.in_flight, in_flight);
  ASSERT_EQ(static_cast<int>(d.queued.length), static_cast<int>(held.size()) - in_flight);
  // Attempts on replicas that left the table are no longer counted by the router.
  ASSERT_LE(outstanding(), attempts);
}

void ServingProperty::run(uint32_t seed) {
  rng.seed(seed);
  TenantSpec a = tenant("a");
  a.max_concurrency = 3;
  a.tokens_per_minute = Tokens(20'000);
  ServingConfig config;
  config.replica_concurrency = 2;
  config.admission.queue_timeout = std::chrono::seconds(5);
  init({a, tenant("b")}, {model("llama", 2)}, config);
  for (int i = 0; i < 1500; ++i) {
    ASSERT_NO_FATAL_FAILURE(step()) << "seed " << seed << " step " << i;
    ASSERT_NO_FATAL_FAILURE(pump()) << "seed " << seed << " step " << i;
    ASSERT_NO_FATAL_FAILURE(check()) << "seed " << seed << " step " << i;
  }
  // Drain: everything still held ends once.
  while (!held.empty()) {
    const RequestId id = held.begin()->first;
    core->finish(id, Tokens(1), clock.now());
    end(id);
  }
  EXPECT_EQ(core->live_requests(), 0);
  EXPECT_EQ(outstanding(), 0);
  EXPECT_EQ(core->demand("llama", clock.now()).in_flight, 0);
  EXPECT_EQ(core->retry_budget().active(), 0);
  EXPECT_EQ(core->retry_budget().retrying(), 0);
  EXPECT_EQ(core->dispatch(), std::nullopt);
}

TEST_F(ServingProperty, EveryRequestEndsExactlyOnce) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    held.clear();
    ended.clear();
    ASSERT_NO_FATAL_FAILURE(run(seed));
  }
}

}  // namespace
}  // namespace gf
