// How a simulated engine reads one completion request: its prompt tokens, its prefix-cache keys,
// how many tokens it may and will generate. engine-sim's HTTP shell only parses the body into a
// RequestShape; every number that decides the request's cost is made here, so engine-sim, the
// simulator and the benchmarks model a request the same way, and the gateway's estimate and
// prefix blocks (common/token_estimate.h, common/prefix_hash.h) are the engine's.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/prefix_hash.h"
#include "common/result.h"
#include "common/units.h"

namespace gf {

struct RequestModelConfig {
  Tokens context_length{4096};
  // The gateway's prefix blocks, so a prefix it routed on is the prefix the engine caches.
  PrefixHashConfig prefix;
  int eos_mean_tokens = 128;  // mean output length when EOS is simulated
};

// What the client asked, as read from the request body.
struct RequestShape {
  std::string_view prompt_text;
  std::optional<Tokens> prompt_tokens;  // a trace replayer's exact count, else estimated
  std::vector<uint64_t> hash_ids;       // a trace replayer's chained block ids, else hashed
  std::optional<Tokens> max_tokens;     // absent: whatever the context leaves
  bool ignore_eos = false;
  uint64_t seed = 0;  // draws the simulated EOS
};

// What the engine will do with it.
struct PlannedRequest {
  Tokens prompt{0};
  Tokens max_tokens{0};
  Tokens output{0};  // tokens it will generate: max_tokens, or fewer when EOS comes first
  std::vector<uint64_t> prefix_hashes;
};

// kInvalidArgument (with OpenAI's wording of the message) when prompt + max_tokens exceed the
// context.
Result<PlannedRequest> plan_request(RequestShape shape, const RequestModelConfig& config);

// Output length with a simulated EOS: 1 + a geometric draw with the configured mean, from the
// seed (common/rng.h, the same on every platform), capped at max_tokens.
Tokens simulated_output(uint64_t seed, Tokens max_tokens, int eos_mean_tokens);

// Prompt tokens per prefix block, for BatchEngineConfig::prefix_block_tokens: what one block of
// `prefix` bytes counts as under the token estimate.
int prefix_block_tokens(const PrefixHashConfig& prefix);

}  // namespace gf
