// What the gateway reads from an OpenAI request body, parsed once on the hot path with simdjson:
// model, stream, user, max_tokens and the first bytes of the prompt (for prefix affinity).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/token_estimate.h"

namespace gf {

struct RequestInfo {
  std::string model;
  bool stream = false;
  std::string user;
  std::optional<int64_t> max_tokens;
  std::string prompt_prefix;  // leading prompt text (chat: message contents joined), capped
  size_t prompt_bytes = 0;    // the whole prompt's size, for the token estimate

  // Without tokenizing, as engine-sim counts the same prompt (common/token_estimate.h).
  int64_t estimated_prompt_tokens() const {
    return estimate_tokens(Bytes(static_cast<int64_t>(prompt_bytes))).value;
  }
};

// Errors say what is wrong in the body and where, for a 400 with OpenAI's error object.
// `endpoint` is "chat", "completions" or "embeddings" (which field holds the prompt).
// `readable_past_end`: how many bytes after the body may be read (not written), such as a
// std::string's capacity beyond its size; with simdjson's padding there the body is parsed where it
// is, not copied first.
Result<RequestInfo> parse_request_info(std::string_view body, std::string_view endpoint,
                                       size_t max_prefix_bytes, size_t readable_past_end = 0);

}  // namespace gf
