#include "common/prefix_hash.h"

#include <xxhash.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h>
#endif

#include <algorithm>
#include <string>

namespace gf {

Status validate(const PrefixHashConfig& config) {
  if (config.block_size.value < 16)
    return make_error(ErrorCode::kInvalidArgument,
                      "prefix hash block size must be at least 16 bytes, got " +
                          std::to_string(config.block_size.value));
  if (config.max_blocks < 1)
    return make_error(
        ErrorCode::kInvalidArgument,
        "prefix hash max blocks must be at least 1, got " + std::to_string(config.max_blocks));
  return {};
}

size_t prefix_block_hashes(std::string_view text, const PrefixHashConfig& config,
                           std::vector<uint64_t>& out) {
  out.clear();
  if (config.block_size.value <= 0) return 0;
  const auto block = static_cast<size_t>(config.block_size.value);
  const size_t n =
      std::min(text.size() / block, static_cast<size_t>(std::max(config.max_blocks, 0)));
  out.reserve(n);
  // XXH3 (libxxhash): its output is fixed by the xxHash specification on every platform, so
  // gateways and engines on different machines key the same prompt alike.
  uint64_t h = config.seed;
  for (size_t i = 0; i < n; ++i) {
#if defined(__x86_64__)
    h = XXH3_64bits_withSeed_dispatch(text.data() + i * block, block, h);
#else
    h = XXH3_64bits_withSeed(text.data() + i * block, block, h);
#endif
    out.push_back(h);
  }
  return n;
}

std::vector<uint64_t> prefix_block_hashes(std::string_view text, const PrefixHashConfig& config) {
  std::vector<uint64_t> out;
  prefix_block_hashes(text, config, out);
  return out;
}

}  // namespace gf
