// A model's capacity from the routing table: replicas × replica concurrency, 0 without replicas.
#include "serving/model_capacity.h"

#include <gtest/gtest.h>

namespace gf {
namespace {

TEST(ModelCapacity, ReplicasOfEveryRevisionTimesConcurrency) {
  RouteModel m{.model = "llama"};
  EXPECT_EQ(model_capacity(m, 4), 0);  // scaled to zero: everything queues
  EXPECT_EQ(model_capacity(m, 0), 0);
  m.revisions.push_back(RouteRevision{"v1", 95, {{"a", "h:1"}, {"b", "h:2"}}});
  m.revisions.push_back(RouteRevision{"v2", 5, {{"c", "h:3"}}});
  EXPECT_EQ(model_capacity(m, 4), 12);
  EXPECT_EQ(model_capacity(m, 0), std::nullopt);  // no per-replica limit: no cap
}

}  // namespace
}  // namespace gf
