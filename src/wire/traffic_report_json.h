// A gateway's traffic report on the wire (gateway -> controller), with errors that name the field.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "common/traffic_report.h"

namespace gf::wire {

std::string to_json(const TrafficReport& r);
Result<TrafficReport> parse_traffic_report(std::string_view json);

}  // namespace gf::wire
