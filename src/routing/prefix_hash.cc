#include "routing/prefix_hash.h"

#include <algorithm>
#include <string>

#include "routing/hash.h"

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
  const auto block = static_cast<size_t>(config.block_size.value);
  if (block == 0) return 0;
  const size_t n =
      std::min(text.size() / block, static_cast<size_t>(std::max(config.max_blocks, 0)));
  out.reserve(n);
  uint64_t h = config.seed;
  for (size_t i = 0; i < n; ++i) {
    h = xxh64(text.data() + i * block, block, h);
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
