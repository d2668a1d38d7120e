#include "routing/policy.h"

#include <string>

namespace gf {

Status validate(const PolicyConfig& c) {
  auto bad = [](std::string what) {
    return make_error(ErrorCode::kInvalidArgument, std::move(what));
  };
  if (!(c.load_factor >= 1.0))
    return bad("routing load factor must be at least 1.0 (1.0 = strict balance), got " +
               std::to_string(c.load_factor));
  if (c.prefix_index_entries < 1) return bad("routing prefix index needs at least 1 entry");
  if (c.prefix_index_entries > (size_t{1} << 30))
    return bad("routing prefix index of " + std::to_string(c.prefix_index_entries) +
               " entries is over the limit of 2^30");
  if (!(c.min_match_ratio >= 0.0 && c.min_match_ratio <= 1.0))
    return bad("routing min match ratio must be within [0, 1], got " +
               std::to_string(c.min_match_ratio));
  if (c.ring_points < 1 || c.ring_points > 10'000)
    return bad("routing ring points per replica must be within [1, 10000], got " +
               std::to_string(c.ring_points));
  const KvAwareWeights& w = c.kv_aware;
  if (w.prefix < 0 || w.load < 0 || w.kv_cache < 0 || w.queue < 0)
    return bad("kv-aware weights must not be negative");
  return {};
}

}  // namespace gf
