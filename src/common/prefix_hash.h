// The one prefix-block hash: turns a prompt's text into chained block hashes, the keys on which
// the gateway's prefix-aware routing and the engine's prefix cache (BatchEngine in engine-sim and
// the simulator) both look prompts up, so "replica R has this prefix" means the same blocks to
// both.
//
// Bytes, not tokens: the gateway must not tokenize on the hot path. A tokenizer costs tens to
// hundreds of microseconds per prompt, differs per model and would tie the gateway to each
// model's vocabulary; XXH3 hashes bytes at tens of GB/s and needs nothing from the model. Byte
// blocks do not line up with a real engine's token blocks, but routing only needs "these two
// prompts share their first N KiB", which bytes answer exactly.
//
// Chained: block i's hash covers blocks 0..i (each block is hashed with the previous block's
// hash as seed), so equal hashes at position i mean equal prefixes, not just equal blocks. The
// whole prompt is hashed (every message of a chat, in order), not only its first message, which
// is what makes SGLang's P/D router match on the system prompt alone (sglang#26263).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/units.h"

namespace gf {

struct PrefixHashConfig {
  // 512 bytes is about 128 tokens of English: hashing a block is cheap next to looking it up,
  // and turns of a conversation still share all but their last partial block.
  Bytes block_size{512};
  // Only the first max_blocks blocks are hashed: it bounds the per-request cost (hashing,
  // index updates). Prompts sharing their first 64 KiB are almost always one conversation.
  int max_blocks = 128;
  // The hash of "no prefix". Gateways that share routing, and the engines they route to, must
  // agree on it (and on block_size).
  uint64_t seed = 0;
};

Status validate(const PrefixHashConfig& config);

// Hashes of the full blocks of `text`, at most config.max_blocks. A trailing partial block is
// left out: engines cache only full blocks, and its hash would change as the conversation grows.
std::vector<uint64_t> prefix_block_hashes(std::string_view text, const PrefixHashConfig& config);

// The same into a caller-owned buffer (no allocation once it has grown); returns the count.
size_t prefix_block_hashes(std::string_view text, const PrefixHashConfig& config,
                           std::vector<uint64_t>& out);

}  // namespace gf
