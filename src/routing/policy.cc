#include "routing/policy.h"

#include <array>
#include <string>

#include "routing/kv_aware.h"
#include "routing/least_outstanding.h"
#include "routing/power_of_two.h"
#include "routing/prefix_affinity.h"
#include "routing/round_robin.h"
#include "routing/session_affinity.h"

namespace gf {

namespace {
constexpr std::array<std::string_view, 6> kNames = {
    "round-robin",     "least-outstanding", "power-of-two",
    "prefix-affinity", "session-affinity",  "kv-aware",
};
}  // namespace

std::span<const std::string_view> policy_names() {
  return kNames;
}

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

Result<std::unique_ptr<Policy>> make_policy(std::string_view name, const PolicyConfig& config) {
  if (Status s = validate(config); !s.ok()) return s.error();
  std::unique_ptr<Policy> p;
  if (name == "round-robin")
    p = std::make_unique<RoundRobinPolicy>();
  else if (name == "least-outstanding")
    p = std::make_unique<LeastOutstandingPolicy>();
  else if (name == "power-of-two")
    p = std::make_unique<PowerOfTwoPolicy>(config.seed);
  else if (name == "prefix-affinity")
    p = std::make_unique<PrefixAffinityPolicy>(config);
  else if (name == "session-affinity")
    p = std::make_unique<SessionAffinityPolicy>(config);
  else if (name == "kv-aware")
    p = std::make_unique<KvAwarePolicy>(config);
  if (p) return p;
  std::string known;
  for (std::string_view n : kNames)
    known += (known.empty() ? "" : ", ") + std::string(n);
  return make_error(ErrorCode::kInvalidArgument, "unknown routing policy \"" + std::string(name) +
                                                     "\"; expected one of " + known);
}

}  // namespace gf
