#include "perfmodel/request_model.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/rng.h"
#include "common/token_estimate.h"

namespace gf {

Tokens simulated_output(uint64_t seed, Tokens max_tokens, int eos_mean_tokens) {
  Rng rng(seed);
  // 1 + failures before success has mean 1 / p: p = 1 / mean gives the configured mean.
  const int64_t eos = 1 + rng.geometric(1.0 / std::max(1, eos_mean_tokens));
  return Tokens(std::min(max_tokens.value, eos));
}

int prefix_block_tokens(const PrefixHashConfig& prefix) {
  return static_cast<int>(estimate_tokens(prefix.block_size).value);
}

Result<PlannedRequest> plan_request(RequestShape shape, const RequestModelConfig& config) {
  PlannedRequest p;
  p.prompt = shape.prompt_tokens
                 ? *shape.prompt_tokens
                 : estimate_tokens(Bytes(static_cast<int64_t>(shape.prompt_text.size())));
  // Chained hashes of the prompt's blocks, exactly as the gateway keyed its routing; a trace
  // replayer's block ids (already chained) stand in for them.
  p.prefix_hashes = shape.hash_ids.empty() ? prefix_block_hashes(shape.prompt_text, config.prefix)
                                           : std::move(shape.hash_ids);
  const int64_t context = config.context_length.value;
  p.max_tokens =
      shape.max_tokens ? *shape.max_tokens : Tokens(std::max<int64_t>(1, context - p.prompt.value));
  if (p.prompt.value + p.max_tokens.value > context) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format(
            "This model's maximum context length is {} tokens. However, you requested {} tokens "
            "({} in the messages, {} in the completion). Please reduce the length of the "
            "messages or completion.",
            context, p.prompt.value + p.max_tokens.value, p.prompt.value, p.max_tokens.value));
  }
  p.output = shape.ignore_eos ? p.max_tokens
                              : simulated_output(shape.seed, p.max_tokens, config.eos_mean_tokens);
  return p;
}

}  // namespace gf
