// The one estimate of a prompt's tokens from its bytes, shared by the gateway (admission, routing
// load, token metrics when the engine reports no usage) and engine-sim (the usage it reports).
//
// Bytes, not a tokenizer: tokenizing costs tens to hundreds of microseconds per prompt, differs
// per model and would tie the gateway to each model's vocabulary. English averages about four
// bytes per token in the Llama and GPT vocabularies, which is all load accounting needs. One
// function, so the gateway's estimate and the engine's count of the same prompt agree.
#pragma once

#include <cstdint>

#include "common/units.h"

namespace gf {

inline constexpr int64_t kBytesPerToken = 4;

// Rounded up and at least one: a partial word is still a token, and every prompt costs the
// engine at least one (its BOS token), so an empty prompt is not free.
constexpr Tokens estimate_tokens(Bytes text) {
  const int64_t bytes = text.value > 0 ? text.value : 0;
  const int64_t tokens = (bytes + kBytesPerToken - 1) / kBytesPerToken;
  return Tokens(tokens > 0 ? tokens : 1);
}

}  // namespace gf
