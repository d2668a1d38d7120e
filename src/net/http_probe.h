// A blocking HTTP GET for health probes: connect to a loopback port, send one request, read the
// status code, all within a timeout. Small on purpose: probes need nothing else.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "common/units.h"

namespace gf::net {

// The HTTP status of GET `path` on host:port, or an error saying what failed (refused, timeout).
Result<int> probe_http(const std::string& host, uint16_t port, const std::string& path,
                       Duration timeout);

}  // namespace gf::net
