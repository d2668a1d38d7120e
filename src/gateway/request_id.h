// The id that names one client request end to end: the client's own `x-request-id` when it sent
// one, else one the gateway makes. Every attempt carries it to the replica (vLLM and engine-sim
// name their answer by it) and the client gets it back, so a log line, a replica's answer and a
// retry can be matched to the request that caused them.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "net/headers.h"

namespace gf {

class RequestIds {
 public:
  // `seed` makes this process's ids differ from another's (the gateway draws it at random).
  explicit RequestIds(uint64_t seed) : prefix_(seed) {}

  // The client's id, or a new one: 32 hex digits, unique in this process and, by the seed,
  // across gateways. A client id that cannot be passed on (empty, over 128 characters, a
  // character outside letters, digits and -_.:+/=@, or the header twice) is an error that says
  // which.
  Result<std::string> for_request(const net::Headers& headers);

 private:
  uint64_t prefix_;
  uint64_t next_ = 0;
};

}  // namespace gf
