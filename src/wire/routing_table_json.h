// The routing table on the wire (controller -> gateway), with errors that name the field.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "common/routing_table.h"

namespace gf::wire {

std::string to_json(const RoutingTable& t);
Result<RoutingTable> parse_routing_table(std::string_view json);

}  // namespace gf::wire
