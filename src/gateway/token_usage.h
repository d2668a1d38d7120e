// Counts the tokens of a response for the gateway's tokens-in/out metrics without a tokenizer:
// the replica's own `usage` object when it sends one (every non-streamed body; a stream's last
// chunk when the client asked for stream_options.include_usage), else one completion token per
// streamed chunk that carries text, which is how vLLM, SGLang and engine-sim stream.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gf {

struct TokenUsage {
  std::optional<int64_t> prompt_tokens;  // only when the replica reported it
  int64_t completion_tokens = 0;
  bool reported = false;  // completion_tokens came from the replica's usage, not a count
};

// The `usage` of a non-streamed OpenAI response body; nullopt when absent or not JSON.
std::optional<TokenUsage> parse_usage(std::string_view body);

// Fed a stream's pieces as they pass through; event boundaries may fall anywhere in a piece.
class StreamTokenCounter {
 public:
  void feed(std::string_view piece);
  TokenUsage usage() const;

 private:
  void line(std::string_view l);

  std::string partial_;    // an unfinished line carried to the next piece (bounded)
  bool skipping_ = false;  // the current line outgrew the bound: ignore the rest of it
  int64_t counted_ = 0;
  std::optional<TokenUsage> reported_;
};

}  // namespace gf
