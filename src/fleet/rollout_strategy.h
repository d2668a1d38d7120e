// Rollout strategies (rolling, blue-green, canary) as pure rules over a deployment's record: how
// many replicas of the new revision to run now and what share of traffic each revision gets.
// The Fleet applies them; they decide nothing else.
#pragma once

#include <optional>
#include <string>

#include "common/units.h"
#include "fleet/records.h"

namespace gf {

// The new revision's share of traffic in percent at the canary's current step (100 past the last).
int canary_step_weight(const DeploymentRecord& d);

// How many replicas of the current revision the strategy wants now: all of them, except during a
// canary step, which runs its share (at least one).
int wanted_current(const DeploymentRecord& d);

// Traffic weight of `revision` among the deployment's `ready` replicas of it.
int revision_weight(const DeploymentRecord& d, const std::string& revision, int ready);

// When the strategy next has something to do by the clock alone (a canary step's pause ends, a
// blue-green retention runs out), or nullopt.
std::optional<TimePoint> rollout_deadline(const DeploymentRecord& d, Duration blue_green_retention);

}  // namespace gf
