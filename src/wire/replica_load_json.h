// The JSON form of a replica's engine load (fleet/replica_load.h), one for the heartbeat's
// replicas[].load and the controller's GET /api/v1/replicas: only the fields that are known, so
// an absent one reads as unknown, and an older reader that knows none of them ignores the object.
#pragma once

#include <simdjson.h>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "common/result.h"
#include "fleet/replica_load.h"

namespace gf::wire {

// {"running": 3, "waiting": 1, "kvCacheUsage": 0.42, "promptTokens": 1200,
//  "generationTokens": 800, "ttftCounts": [0, 4, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
//  "queueCounts": [0, 0, 0, 0, 0, 14, 0, 0, 0, 0, 0, 0, 0], "ageMs": 350}
// (ttftCounts, queueCounts: cumulative, one per common/traffic_report.h TTFT bucket.)
nlohmann::json replica_load_json(const ReplicaLoad& load);

// The inverse. A value of the wrong type or out of its range (a negative count, a KV usage
// outside 0..1) is an error naming `path` and the field: the agent clamps before it sends, so
// such a value is a bug worth hearing about.
Result<ReplicaLoad> parse_replica_load(simdjson::dom::element j, const std::string& path);

}  // namespace gf::wire
