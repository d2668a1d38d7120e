#include "routing/kv_aware.h"

#include <algorithm>

#include "routing/bounded_load.h"

namespace gf {

KvAwarePolicy::KvAwarePolicy(const PolicyConfig& config)
    : load_factor_(config.load_factor),
      weights_(config.kv_aware),
      index_(config.prefix_index_entries) {}

void KvAwarePolicy::replicas_changed(std::span<const ReplicaView* const>,
                                     std::span<const ReplicaSlot> removed) {
  for (ReplicaSlot s : removed)
    index_.forget(s);
}

Choice KvAwarePolicy::pick(const RouteRequest& request,
                           std::span<const ReplicaView* const> candidates) {
  set_.assign(candidates);
  const auto blocks = request.prefix_blocks;
  if (!blocks.empty()) {
    index_.longest_match(blocks, [&](size_t len, const PrefixIndex::Owners& owners) {
      for (ReplicaSlot o : owners)
        if (o != PrefixIndex::kNoOwner) set_.raise_matched(o, len);
    });
  }
  const LoadBound bound = LoadBound::of(candidates, load_factor_);

  // Normalisers over the admitted candidates. Load is per unit of speed (RouteReplica::speed):
  // the same tokens in flight take a GPU half as fast twice as long.
  double max_tokens = 0;
  double max_requests = 0;
  int max_queue = 0;
  double kv_sum = 0;
  int kv_n = 0;
  double queue_sum = 0;
  int queue_n = 0;
  for (const ReplicaView* r : candidates) {
    if (!bound.admits(*r)) continue;
    max_tokens = std::max(max_tokens, static_cast<double>(r->outstanding_tokens.value) / r->speed);
    max_requests = std::max(max_requests, r->outstanding / r->speed);
    if (r->kv_cache_usage) {
      kv_sum += *r->kv_cache_usage;
      ++kv_n;
    }
    if (r->queue_length) {
      max_queue = std::max(max_queue, *r->queue_length);
      queue_sum += *r->queue_length;
      ++queue_n;
    }
  }
  const double kv_mean = kv_n > 0 ? kv_sum / kv_n : 0.0;
  const double queue_mean = queue_n > 0 ? queue_sum / queue_n : 0.0;
  const double nblocks = static_cast<double>(blocks.size());

  const size_t n = candidates.size();
  const size_t start = static_cast<size_t>(next_++ % n);
  size_t best = n;
  double best_score = 0;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    const ReplicaView& r = *candidates[i];
    if (!bound.admits(r)) continue;
    double score = 0;
    if (nblocks > 0) score += weights_.prefix * static_cast<double>(set_.matched(r.slot)) / nblocks;
    // Tokens measure LLM load better than request counts (ray-llm#133); requests stand in when
    // the gateway gives no token estimates.
    if (max_tokens > 0)
      score += weights_.load *
               (1.0 - static_cast<double>(r.outstanding_tokens.value) / r.speed / max_tokens);
    else if (max_requests > 0)
      score += weights_.load * (1.0 - r.outstanding / r.speed / max_requests);
    score += weights_.kv_cache * (1.0 - std::clamp(r.kv_cache_usage.value_or(kv_mean), 0.0, 1.0));
    if (max_queue > 0)
      score += weights_.queue *
               (1.0 - (r.queue_length ? static_cast<double>(*r.queue_length) : queue_mean) /
                          static_cast<double>(max_queue));
    if (best == n || score > best_score + 1e-12) {
      best = i;
      best_score = score;
    }
  }
  if (best == n) best = start;  // unreachable with load_factor >= 1 (see LoadBound)
  return Choice{best, set_.matched(candidates[best]->slot)};
}

void KvAwarePolicy::routed(const RouteRequest& request, const ReplicaView& chosen) {
  index_.record(request.prefix_blocks, chosen.slot);
}

}  // namespace gf
