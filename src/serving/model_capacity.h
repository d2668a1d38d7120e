// How many requests a model's replicas take at once, from the routing table: what admission
// queues beyond. A model without replicas takes none: its requests wait (the activator) and show
// as demand, which is how a model scales up from zero.
#pragma once

#include <optional>

#include "common/routing_table.h"

namespace gf {

// replicas × replica_concurrency; nullopt (no cap) when replica_concurrency is 0; 0 when the
// model has no replica.
std::optional<int> model_capacity(const RouteModel& model, int replica_concurrency);

}  // namespace gf
