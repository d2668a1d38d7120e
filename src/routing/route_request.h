// What routing needs to know about one request. Views, not copies: the gateway owns the data
// for the duration of the call.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "common/units.h"

namespace gf {

struct RouteRequest {
  std::string_view model;
  // Stickiness key for session-affinity: the OpenAI `user` field or a session header. Empty =
  // none.
  std::string_view session_key;
  // Chained prefix block hashes of the prompt (prefix_hash.h), or any chained block ids.
  std::span<const uint64_t> prefix_blocks;
  // Prompt plus expected output tokens, as the gateway estimates them without tokenizing
  // (bytes / 4 + max_tokens, say). Used as load, not billed.
  Tokens estimated_tokens{0};
  // Replicas this request already tried (retries): never picked again for it.
  std::span<const std::string_view> avoid;
};

}  // namespace gf
