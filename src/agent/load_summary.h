// What a heartbeat says about one replica's engine load: the latest reading of its metrics
// (agent/engine_load.h) in the compact form of fleet/replica_load.h, or nothing when there is no
// reading or it is too old to describe the engine now. Pure: the runner keeps the reading, the
// controller link asks for the summary when it builds the heartbeat.
#pragma once

#include <optional>

#include "agent/engine_load.h"
#include "fleet/replica_load.h"

namespace gf {

// nullopt (unknown) without a reading or when the reading was asked for more than `max_age`
// before `now`. Counts are rounded to whole requests and tokens, negative figures (a broken
// exporter) become 0 and the KV usage is kept within 0..1, so the controller never sees a value
// its decoder refuses. `age` is how long before `now` the scrape was asked for (0 at the least).
std::optional<ReplicaLoad> load_summary(const std::optional<EngineReading>& reading, TimePoint now,
                                        Duration max_age);

}  // namespace gf
