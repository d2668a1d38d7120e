// A Serving core under a manual clock, with tenants and a routing table, for the serving tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/clock.h"
#include "serving/serving.h"

namespace gf::testing_serving {

inline TenantSpec tenant(std::string name) {
  TenantSpec t;
  t.name = std::move(name);
  return t;
}

// One model with one revision of `replicas` replicas named r0, r1, ...
inline RouteModel model(std::string name, int replicas, std::string policy = "round-robin") {
  RouteModel m;
  m.model = std::move(name);
  m.policy = std::move(policy);
  RouteRevision rev{"v1", 1, {}};
  for (int i = 0; i < replicas; ++i)
    rev.replicas.push_back(RouteReplica{"r" + std::to_string(i), "127.0.0.1:1"});
  m.revisions.push_back(std::move(rev));
  return m;
}

class ServingTest : public ::testing::Test {
 protected:
  void init(std::vector<TenantSpec> tenants, std::vector<RouteModel> models,
            ServingConfig config = {}) {
    auto dir = TenantDirectory::create(std::move(tenants));
    ASSERT_TRUE(dir.ok()) << dir.error().describe();
    directory.emplace(std::move(dir).value());
    auto s = Serving::create(*directory, std::move(config), clock.now());
    ASSERT_TRUE(s.ok()) << s.error().describe();
    core.emplace(std::move(s).value());
    RoutingTable t{1, std::move(models)};
    ASSERT_TRUE(core->apply_table(t, clock.now()).ok());
  }
  const TenantSpec* spec(std::string_view name) const { return directory->find(name); }
  AdmitResult admit(std::string_view tenant_name, std::string_view model_name = "llama",
                    int64_t prompt = 100, std::optional<int64_t> max_tokens = 100) {
    return core->admit(Arrival{spec(tenant_name), model_name, Tokens(prompt), max_tokens},
                       clock.now());
  }
  // Admits a request that must be admitted at once and returns its id.
  RequestId admitted(std::string_view tenant_name = "acme", std::string_view model_name = "llama",
                     int64_t prompt = 100, std::optional<int64_t> max_tokens = 100) {
    AdmitResult r = admit(tenant_name, model_name, prompt, max_tokens);
    EXPECT_TRUE(std::holds_alternative<Entered>(r));
    if (!std::holds_alternative<Entered>(r)) return 0;
    EXPECT_FALSE(std::get<Entered>(r).queued);
    return std::get<Entered>(r).id;
  }
  // The replica a pick chose; "" when the core gave up.
  std::string pick(RequestId id) {
    PickResult p = core->pick(id, RouteHints{}, clock.now());
    if (auto* a = std::get_if<Attempt>(&p)) return *a->replica;
    return "";
  }
  int outstanding(std::string_view model_name = "llama") const {
    int n = 0;
    for (const ReplicaStatus& s : core->router().replicas(model_name, clock.now()))
      n += s.view.outstanding;
    return n;
  }

  ManualClock clock;
  std::optional<TenantDirectory> directory;
  std::optional<Serving> core;
};

}  // namespace gf::testing_serving
