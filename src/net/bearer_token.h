// The bearer token of a request, read one way for every gpufleet server (the controller, the
// gateway and the agent): common/bearer.h on its one Authorization field.
#pragma once

#include <optional>
#include <string_view>

#include "common/result.h"
#include "net/headers.h"

namespace gf::net {

// The token, or nullopt when the request has no Authorization field, one of another scheme
// ("Basic ...") or an empty one. An error when the field is given twice: which one counts would
// depend on the reader (one took the first, another the last), so neither does.
Result<std::optional<std::string_view>> bearer_token(const Headers& headers);

// Whether `headers` carry `Authorization: Bearer <secret>` (compared with same_secret): what
// every gpufleet server asks before a protected call.
bool has_bearer_secret(const Headers& headers, std::string_view secret);

}  // namespace gf::net
