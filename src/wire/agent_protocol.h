// The agent <-> controller protocol on the wire: the agent POSTs its NodeReport to
// /api/v1/agents/heartbeat every second and the reply is the fleet's NodeAssignment. The JSON
// codecs of those core values, with errors that name the field ("gpus[2].uuid: is required").
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "common/spec.h"
#include "fleet/node_assignment.h"
#include "fleet/node_report.h"

namespace gf::wire {

inline constexpr int kAgentProtocolVersion = 1;

std::string to_json(const NodeReport& h);
std::string to_json(const NodeAssignment& r);
Result<NodeReport> parse_node_report(std::string_view json);
Result<NodeAssignment> parse_node_assignment(std::string_view json);

// The inverse of gf::to_string(EngineType).
Result<EngineType> parse_engine_type(std::string_view name);

}  // namespace gf::wire
