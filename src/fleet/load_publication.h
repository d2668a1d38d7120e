// When the engines' load alone is worth a new routing-table version. Every version wakes every
// gateway that watches the table (GET /api/v1/routing?after=V) and each one re-applies it, while
// every agent brings a fresh reading of each replica's engine every heartbeat: publishing each
// reading would turn the table over at the fleet's heartbeat rate (a thousand replicas: a new
// version every millisecond). So a replica's load is republished only once it moved enough to
// change a routing decision, and load-only versions are spaced out; changes of the replicas
// themselves (added, removed, weights) are published at once and carry the latest load with them.
#pragma once

#include "common/routing_table.h"
#include "common/units.h"

namespace gf {

struct LoadPublicationRule {
  // A queue length that moved by this many requests, or a KV usage by this share, since the
  // value last published: smaller moves are noise next to the gateway's own outstanding counts.
  int queue_step = 2;
  double kv_step = 0.05;
  // At most one load-only version per this interval, for the whole fleet: a burst of moves in one
  // interval goes out as one version at its end.
  Duration min_interval = std::chrono::seconds(1);
};

// Whether `latest` is worth publishing over `published` (the same replica): its KV usage or queue
// length became known or unknown, or moved by at least the rule's step.
bool load_moved(const RouteReplica& published, const RouteReplica& latest,
                const LoadPublicationRule& rule);

// Whether two tables route alike, load aside: the same models (policy, tenants, why unavailable),
// revisions and weights, and replicas (id, address, restarts) in the same order. Compared field
// by field, so that a table of a hundred thousand replicas costs no text to build (#18).
bool same_replicas(const RoutingTable& a, const RoutingTable& b);

// The same over two tables of the same models, revisions and replicas in the same order (the
// fleet compares them only then): true if any replica's load moved.
bool load_moved(const RoutingTable& published, const RoutingTable& latest,
                const LoadPublicationRule& rule);

}  // namespace gf
