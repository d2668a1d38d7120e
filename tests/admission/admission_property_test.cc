// Seeded random traffic through AdmissionController: every request ends exactly once (released,
// cancelled, expired or rejected), caps are never exceeded by a new acquisition, and no queued
// request is left waiting while both its tenant and its model have room.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "admission/admission_controller.h"
#include "common/clock.h"

namespace gf {
namespace {

using std::chrono::milliseconds;

enum class State { kQueued, kInFlight };

struct Tracked {
  std::string tenant;
  std::string model;
  State state = State::kQueued;
};

TEST(AdmissionProperty, RandomTrafficKeepsInvariants) {
  std::vector<TenantSpec> specs(4);
  specs[0].name = "t0";
  specs[0].max_concurrency = 2;
  specs[1].name = "t1";
  specs[1].max_concurrency = 1;
  specs[1].priority = 1;
  specs[2].name = "t2";
  specs[2].weight = 3;
  specs[3].name = "t3";
  specs[3].requests_per_second = 2;
  specs[3].tokens_per_minute = Tokens(200000);
  specs[3].max_concurrency = 3;
  const std::string models[] = {"m0", "m1", "m2"};
  // How often each path ran over all seeds, so the test shows it exercised them.
  std::map<std::string, int> seen;

  for (uint64_t seed = 1; seed <= 25; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    auto uniform = [&](int64_t lo, int64_t hi) {
      return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    ManualClock clock;
    auto dir = TenantDirectory::create(specs);
    ASSERT_TRUE(dir.ok());
    AdmissionConfig config;
    config.queue.max_per_tenant = 8;
    config.queue.max_total = 20;
    config.queue.quantum = Tokens(uniform(1, 3000));
    config.queue_timeout = milliseconds(uniform(100, 5000));
    config.default_model_capacity = 2;
    auto made = AdmissionController::create(*dir, config, clock.now());
    ASSERT_TRUE(made.ok());
    AdmissionController ctl = std::move(made).value();

    std::map<uint64_t, Tracked> live;
    std::set<uint64_t> ended;
    std::map<std::string, std::optional<int>> capacity;
    for (const auto& m : models)
      capacity[m] = 2;
    uint64_t next_id = 1;

    auto snapshot = [&] {
      std::map<std::string, int> out;
      for (const auto& t : specs)
        out[t.name] = ctl.tenant_in_flight(t.name);
      for (const auto& m : models)
        out["model:" + m] = ctl.demand(m, clock.now()).in_flight;
      return out;
    };
    auto cap_of = [&](const std::string& key) -> std::optional<int> {
      if (key.rfind("model:", 0) == 0) return capacity[key.substr(6)];
      for (const auto& t : specs) {
        if (t.name == key) return t.max_concurrency;
      }
      return std::nullopt;
    };

    for (int step = 0; step < 1500; ++step) {
      const auto before = snapshot();
      clock.advance(milliseconds(uniform(0, 40)));
      const int64_t op = uniform(0, 99);
      if (op < 45) {
        const uint64_t id = next_id++;
        const std::string& tenant = specs[uniform(0, 3)].name;
        const std::string& model = models[uniform(0, 2)];
        AdmitDecision d =
            ctl.admit(AdmitRequest{id, tenant, model, Tokens(uniform(0, 8000))}, clock.now());
        if (std::holds_alternative<Admitted>(d)) {
          seen["admitted"] += 1;
          live[id] = Tracked{tenant, model, State::kInFlight};
        } else if (std::holds_alternative<Queued>(d)) {
          seen["queued"] += 1;
          live[id] = Tracked{tenant, model, State::kQueued};
        } else {
          const Rejected& r = std::get<Rejected>(d);
          ASSERT_FALSE(r.reason.empty());
          ASSERT_TRUE(r.http_status == 429 || r.http_status == 503) << r.reason;
          seen[std::string("rejected:") + to_string(r.code)] += 1;
          ended.insert(id);
        }
      } else if (op < 70) {  // complete a random live request
        if (live.empty()) continue;
        auto it = std::next(live.begin(), uniform(0, static_cast<int64_t>(live.size()) - 1));
        Status s = ctl.release(it->first, Tokens(uniform(0, 9000)), clock.now());
        if (it->second.state == State::kInFlight) {
          ASSERT_TRUE(s.ok()) << s.error().describe();
          ended.insert(it->first);
          live.erase(it);
        } else {
          ASSERT_FALSE(s.ok());
          ASSERT_EQ(s.error().code, ErrorCode::kFailedPrecondition);
        }
      } else if (op < 80) {  // a client goes away (any id, even ended or unknown)
        const uint64_t id = uniform(1, static_cast<int64_t>(next_id));
        Status s = ctl.cancel(id, clock.now());
        auto it = live.find(id);
        if (it == live.end()) {
          ASSERT_FALSE(s.ok());
          ASSERT_EQ(s.error().code, ErrorCode::kNotFound);
        } else if (it->second.state == State::kInFlight) {
          ASSERT_FALSE(s.ok());
          ASSERT_EQ(s.error().code, ErrorCode::kFailedPrecondition);
        } else {
          ASSERT_TRUE(s.ok());
          seen["cancelled"] += 1;
          ended.insert(id);
          live.erase(it);
        }
      } else if (op < 90) {
        for (const Expired& e : ctl.expire(clock.now())) {
          auto it = live.find(e.id);
          ASSERT_NE(it, live.end()) << "expired an id not waiting: " << e.id;
          ASSERT_EQ(it->second.state, State::kQueued);
          ASSERT_TRUE(e.rejection.http_status == 429 || e.rejection.http_status == 503);
          seen["expired"] += 1;
          ended.insert(e.id);
          live.erase(it);
        }
      } else {
        const std::string& model = models[uniform(0, 2)];
        const int64_t c = uniform(-1, 4);
        capacity[model] = c < 0 ? std::nullopt : std::optional<int>(static_cast<int>(c));
        ctl.set_model_capacity(model, capacity[model], clock.now());
      }

      // Hand out whatever was given a slot: only queued requests, each once.
      while (auto d = ctl.dispatch()) {
        auto it = live.find(d->id);
        ASSERT_NE(it, live.end()) << "dispatched an unknown id " << d->id;
        ASSERT_EQ(it->second.state, State::kQueued) << "dispatched twice: " << d->id;
        ASSERT_EQ(it->second.tenant, d->tenant);
        ASSERT_EQ(it->second.model, d->model);
        it->second.state = State::kInFlight;
        seen["dispatched"] += 1;
      }

      // Counts agree with the requests in flight, and nothing acquired beyond a cap (a lowered
      // cap may leave more in flight than it allows, but never more than before).
      std::map<std::string, int> want;
      for (const auto& [id, t] : live) {
        if (t.state != State::kInFlight) continue;
        want[t.tenant] += 1;
        want["model:" + t.model] += 1;
      }
      const auto after = snapshot();
      for (const auto& [key, n] : after) {
        ASSERT_EQ(n, want[key]) << key;
        if (auto cap = cap_of(key)) {
          ASSERT_LE(n, std::max(*cap, before.at(key))) << key;
        }
      }

      // Work conserving: a model with room has no queued request whose tenant has room.
      for (const auto& m : models) {
        ModelDemand demand = ctl.demand(m, clock.now());
        size_t queued = 0;
        for (const auto& [id, t] : live)
          queued += t.model == m && t.state == State::kQueued;
        ASSERT_EQ(demand.queued.length, queued) << m;
        if (demand.capacity && demand.in_flight >= *demand.capacity) continue;
        for (const auto& [tenant, ts] : demand.queued.tenants) {
          auto cap = cap_of(tenant);
          ASSERT_TRUE(cap && after.at(tenant) >= *cap)
              << tenant << " waits for " << m << " though both have room";
        }
      }
    }
    for (uint64_t id : ended) {
      ASSERT_FALSE(live.count(id));
    }
  }
  for (const char* path :
       {"admitted", "queued", "dispatched", "cancelled", "expired", "rejected:rate_limit_requests",
        "rejected:tenant_queue_full", "rejected:queue_full"}) {
    EXPECT_GT(seen[path], 0) << path;
  }
}

}  // namespace
}  // namespace gf
