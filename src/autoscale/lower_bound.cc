#include "autoscale/lower_bound.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <unordered_map>

namespace gf {
namespace {

// Durations are rounded to whole nanoseconds per iteration; shaving a millionth off keeps the
// bound below a simulated schedule whose every iteration rounded down (iterations last >= 1 ms).
constexpr double kRounding = 1 - 1e-6;

int64_t blocks_for(int64_t tokens, int block_tokens) {
  return (tokens + block_tokens - 1) / block_tokens;
}

// What a shape's replica can do at best, for the workload's shortest prompt.
struct ShapeLimits {
  int64_t total_blocks = std::numeric_limits<int64_t>::max();
  double max_batch = 1;             // sequences in one decode iteration at most
  double prefill_ms_per_token = 0;  // at the best prefill rate (a lower bound on it)
  double decode_ms_per_token = 0;   // at the best batched decode rate
};

ShapeLimits limits_of(const ReplicaShape& s, Tokens shortest_prompt) {
  ShapeLimits l;
  const PerfCoefficients& c = s.coef;
  const int bt = std::max(1, s.block_tokens);
  double batch = std::max(1, s.max_num_seqs);
  if (s.kv_capacity.value > 0) {
    l.total_blocks = s.kv_capacity.value / bt;
    // Every sequence in a decode iteration holds its prompt and at least one generated token:
    // whole sequences fit, so the quotient is rounded down.
    const int64_t fit = l.total_blocks / blocks_for(shortest_prompt.value + 2, bt);
    batch = std::min(batch, static_cast<double>(fit));
  }
  l.max_batch = std::max(1.0, batch);
  if (s.chunked_prefill) {
    // Prompt chunks from many requests can fill an iteration's budget, each adding only its own
    // attention, so the best rate is a plus the fixed cost over the budget; a decode that rides
    // in such an iteration adds only its per-sequence and context terms.
    l.prefill_ms_per_token =
        c.prefill_per_token_ms +
        c.prefill_base_ms / static_cast<double>(std::max<int64_t>(1, s.max_batched_tokens.value));
    l.decode_ms_per_token = c.decode_per_seq_ms + c.decode_per_ctx_token_ms * 2;
    return l;
  }
  // A prefill of P tokens costs at least base + a P + b P^2, so P tokens per that: at most
  // 1 / (a + 2 sqrt(base b)) tokens per ms (AM-GM on base/P + b P).
  l.prefill_ms_per_token =
      c.prefill_per_token_ms + 2 * std::sqrt(c.prefill_base_ms * c.prefill_per_token2_ms);
  // A decode iteration of B sequences makes B tokens; each sequence holds >= 2 context tokens.
  l.decode_ms_per_token =
      c.decode_base_ms / l.max_batch + c.decode_per_seq_ms + c.decode_per_ctx_token_ms * 2;
  return l;
}

// For each closed interval, the largest total weight of intervals that hold one moment of it. The
// total rises only where an interval starts, so the moments to look at are the starts inside it.
std::vector<double> peak_overlap(std::span<const double> start, std::span<const double> end,
                                 std::span<const double> weight) {
  const size_t n = start.size();
  // Positions by start (a trace comes sorted by arrival, so usually already in order) and ends.
  std::vector<uint32_t> order(n);
  for (size_t i = 0; i < n; ++i)
    order[i] = static_cast<uint32_t>(i);
  if (!std::is_sorted(start.begin(), start.end()))
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return start[a] < start[b]; });
  std::vector<std::pair<double, double>> ends(n);  // (end, weight), sorted
  std::vector<double> starts(n);
  for (size_t k = 0; k < n; ++k) {
    starts[k] = start[order[k]];
    ends[k] = {end[k], weight[k]};
  }
  // Prefill windows all last the TTFT target, so their ends come in the order of their starts.
  if (!std::is_sorted(ends.begin(), ends.end())) std::sort(ends.begin(), ends.end());
  // A sparse table, level by level in one array, answers each interval's range maximum in O(1).
  // Its first level, table[k]: the weight of intervals holding the k-th start: those started by
  // then (ties included), less those ended before it. One sweep over both sorted lists.
  size_t levels = 1;
  while ((size_t{1} << levels) <= n)
    ++levels;
  std::vector<double> table(levels * n);
  double started = 0, ended = 0;
  for (size_t k = 0, next = 0, e = 0; k < n; ++k) {
    for (; next < n && starts[next] <= starts[k]; ++next)
      started += weight[order[next]];
    for (; e < n && ends[e].first < starts[k]; ++e)
      ended += ends[e].second;
    table[k] = started - ended;
  }
  for (size_t w = 1; w < levels; ++w) {
    const double* prev = &table[(w - 1) * n];
    double* cur = &table[w * n];
    const size_t half = size_t{1} << (w - 1);
    for (size_t k = 0; k + (size_t{1} << w) <= n; ++k)
      cur[k] = std::max(prev[k], prev[k + half]);
  }
  std::vector<double> out(n, 0);
  for (size_t k = 0; k < n; ++k) {
    const size_t i = order[k];
    // The first start equal to this one holds the same weight as this one does.
    const size_t lo = k;
    const size_t hi = static_cast<size_t>(
        std::upper_bound(starts.begin() + static_cast<std::ptrdiff_t>(k), starts.end(), end[i]) -
        starts.begin());  // > lo: the interval holds its own start
    const size_t w = static_cast<size_t>(std::bit_width(hi - lo) - 1);
    out[i] = std::max(table[w * n + lo], table[w * n + hi - (size_t{1} << w)]);
  }
  return out;
}

// How widely an iteration serving the request can share its fixed cost, whatever the schedule:
// a request that meets the SLO is prefilled within its TTFT target of arriving and decoded
// before arrival + TTFT + (output - 1) x TPOT, so an iteration it is in starts while all the
// others that meet the SLO in it are in their own windows too.
struct Peers {
  double batch = std::numeric_limits<double>::infinity();   // decode sequences at most
  double tokens = std::numeric_limits<double>::infinity();  // prompt tokens in a prefill at most
  // Another request's prefill window meets this one's decode window, so an engine that mixes
  // chunks and decodes could run some of its decodes in iterations that chunk pays for.
  bool chunk_nearby = true;
};

std::vector<Peers> peers_of(std::span<const WorkItem> work, const SloTarget& slo) {
  const size_t n = work.size();
  std::vector<double> start(n), prefill_end(n), decode_end(n), prompt(n), decoding(n);
  // The recorder rounds TPOT down to whole nanoseconds: allow 1 ns a token, and 1 us more.
  const double ttft = to_ms(slo.ttft) + 1e-3;
  const double tpot = to_ms(slo.tpot) + 1e-6;
  for (size_t i = 0; i < n; ++i) {
    const WorkItem& w = work[i];
    start[i] = to_ms(w.arrival);
    prefill_end[i] = start[i] + ttft;
    decode_end[i] =
        prefill_end[i] + static_cast<double>(std::max<int64_t>(0, w.output.value - 1)) * tpot;
    prompt[i] = static_cast<double>(w.prompt.value);
    decoding[i] = w.output.value > 1 ? 1 : 0;
  }
  const std::vector<double> tokens = peak_overlap(start, prefill_end, prompt);
  const std::vector<double> batch = peak_overlap(start, decode_end, decoding);
  // Request q's chunks run in iterations starting in [start_q, start_q + TTFT]; request i decodes
  // in (start_i, decode_end_i]. They can meet only if start_q is in [start_i - TTFT,
  // decode_end_i]; i itself is always there, so another one is when more than one is.
  std::vector<double> sorted(start);
  std::sort(sorted.begin(), sorted.end());
  std::vector<Peers> out(n);
  for (size_t i = 0; i < n; ++i) {
    const auto lo = std::lower_bound(sorted.begin(), sorted.end(), start[i] - ttft);
    const auto hi = std::upper_bound(sorted.begin(), sorted.end(), decode_end[i]);
    out[i] = Peers{std::max(1.0, batch[i]), std::max(1.0, tokens[i]), hi - lo > 1};
  }
  return out;
}

// Milliseconds the request's later tokens (all but the first, which its prefill makes) cost at
// least, when one made by a decode iteration costs `fixed` + `k` x its context. A request
// preempted just before a token gets that token from the prefill that recomputes its context
// instead, which costs at least a c + b c^2 for the c tokens of it no cache holds: at least the
// context less the prompt tokens other requests share. Each token is charged the cheaper way.
double later_tokens_ms(const WorkItem& w, const PerfCoefficients& c, double fixed, double k) {
  const int64_t later = w.output.value - 1;
  if (later <= 0) return 0;
  const double p = static_cast<double>(w.prompt.value);
  const double unshared =
      static_cast<double>(std::max<int64_t>(0, w.prompt.value - w.shareable.value));
  const double n = static_cast<double>(later);
  double total = n * fixed + k * (n * p + n * (n + 1) / 2);
  const double a = c.prefill_per_token_ms, b = c.prefill_per_token2_ms;
  // What a recompute saves on token i is concave in i; when it is also falling from the first
  // token on, the tokens a recompute makes cheaper come first, and the loop stops at the first
  // that it does not (at once for a long prompt no other request shares).
  const bool falling = a + 2 * b * (unshared + 1) >= k;
  for (int64_t i = 1; i <= later; ++i) {
    const double x = unshared + static_cast<double>(i);
    const double saved = fixed + k * (p + static_cast<double>(i)) - (a * x + b * x * x);
    if (saved > 0) {
      total -= saved;
    } else if (falling) {
      break;
    }
  }
  return total;
}

// Replica-milliseconds request `w` costs at least on a shape (docs/simulator.md derives each term).
double clairvoyant_ms(const WorkItem& w, const ReplicaShape& s, const ShapeLimits& l,
                      const Peers& peers) {
  const PerfCoefficients& c = s.coef;
  // The engine computes every prompt token its prefix cache lacks, and always at least one. A
  // prefill iteration of T tokens costs >= base + a T + b T^2 >= sum over its requests of
  // (a c + b c^2) + base x (its share of the iteration's token budget).
  const double comp = static_cast<double>(std::max<int64_t>(1, w.prompt.value - w.cacheable.value));
  const double budget =
      std::min(peers.tokens, static_cast<double>(std::max<int64_t>(1, s.max_batched_tokens.value)));
  const double prefill = c.prefill_per_token_ms * comp + c.prefill_per_token2_ms * comp * comp +
                         c.prefill_base_ms * std::min(comp, budget) / budget;
  // The prefill makes the first token; each later one is in a decode iteration whose fixed cost
  // is shared by at most `batch` sequences, with the per-sequence and context terms its own (or
  // in a recompute). An engine that mixes chunks and decodes may hide every decode in an
  // iteration another request's chunk pays for, if one is near: there a decode's own terms are
  // all it adds.
  const double batch = std::min(l.max_batch, peers.batch);
  const double shared = s.chunked_prefill && peers.chunk_nearby ? 0 : c.decode_base_ms / batch;
  return prefill + later_tokens_ms(w, c, c.decode_per_seq_ms + shared, c.decode_per_ctx_token_ms);
}

// Whether the request could meet the SLO on this shape at all: alone on an idle replica, where its
// first token comes after one prefill iteration of the prompt tokens no cache holds, and each
// later one after a decode iteration of it alone. Other prompts in its prefill and other sequences
// in its decode iterations only lengthen those, and so do waiting and preemption.
bool within_slo_alone(const WorkItem& w, const PerfCoefficients& c, const SloTarget& slo) {
  const double comp = static_cast<double>(std::max<int64_t>(1, w.prompt.value - w.cacheable.value));
  // kRounding: iterations are rounded to whole nanoseconds, so only a clear miss counts.
  if (c.prefill_ms(comp) * kRounding > to_ms(slo.ttft)) return false;
  if (w.output.value <= 1) return true;
  const double later = static_cast<double>(w.output.value - 1);
  const double p = static_cast<double>(w.prompt.value);
  const double decode = later * (c.decode_base_ms + c.decode_per_seq_ms) +
                        c.decode_per_ctx_token_ms * (later * p + later * (later + 1) / 2);
  // The recorder divides whole nanoseconds by (output - 1), rounding down: allow 1 ns a token.
  return decode * kRounding <= later * (to_ms(slo.tpot) + 1e-6);
}

// Its computed prompt tokens at the best prefill rate and its later tokens at the best decode rate
// (or a recompute's, where that is cheaper); the prefill makes the first.
double floor_ms(const WorkItem& w, const PerfCoefficients& c, const ShapeLimits& l) {
  const double comp = static_cast<double>(std::max<int64_t>(1, w.prompt.value - w.cacheable.value));
  return comp * l.prefill_ms_per_token + later_tokens_ms(w, c, l.decode_ms_per_token, 0);
}

struct Priced {
  double floor_gpu_ms = 0;
  double gpu_ms = 0;  // the clairvoyant figure
  double cost = 0;    // USD
};

}  // namespace

double WorkBound::max_attainment() const {
  if (requests == 0) return 1;
  return static_cast<double>(requests - std::min(requests, unservable + beyond_slo)) /
         static_cast<double>(requests);
}

WorkBound lower_bound_of(std::span<const WorkItem> work, std::span<const ReplicaShape> shapes,
                         double attainment, const SloTarget& slo) {
  WorkBound out;
  out.requests = work.size();
  if (work.empty() || shapes.empty()) return out;
  Tokens shortest = work.front().prompt;
  for (const WorkItem& w : work)
    shortest = std::min(shortest, w.prompt);
  std::vector<ShapeLimits> limits;
  for (const ReplicaShape& s : shapes)
    limits.push_back(limits_of(s, shortest));

  // Which shapes could serve each request within the SLO; a request none could misses anyway.
  const auto fits = [&](const WorkItem& w, size_t i) {
    return blocks_for(w.prompt.value + w.output.value, std::max(1, shapes[i].block_tokens)) <=
           limits[i].total_blocks;
  };
  std::vector<WorkItem> servable;
  std::vector<uint8_t> serves;  // [servable request × shape]: it could meet the SLO there
  servable.reserve(work.size());
  std::vector<uint8_t> row(shapes.size());
  for (const WorkItem& w : work) {
    bool held = false, within = false;
    for (size_t i = 0; i < shapes.size(); ++i) {
      row[i] = 0;
      if (!fits(w, i)) continue;
      held = true;
      row[i] = within_slo_alone(w, shapes[i].coef, slo) ? 1 : 0;
      within = within || row[i];
    }
    if (within) {
      servable.push_back(w);
      serves.insert(serves.end(), row.begin(), row.end());
    } else {
      ++(held ? out.beyond_slo : out.unservable);
    }
  }
  // Only those can share an iteration with a request that meets the SLO while meeting it too.
  const std::vector<Peers> peers = peers_of(servable, slo);

  // Each request on the shape that serves it cheapest within the SLO: a mixed fleet may split the
  // work any way, and a request that meets the SLO ran where it could.
  std::vector<Priced> priced;
  priced.reserve(servable.size());
  for (size_t r = 0; r < servable.size(); ++r) {
    const WorkItem& w = servable[r];
    Priced best{std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(),
                std::numeric_limits<double>::infinity()};
    for (size_t i = 0; i < shapes.size(); ++i) {
      const ReplicaShape& s = shapes[i];
      if (!serves[r * shapes.size() + i]) continue;
      const double g = std::max(1, s.gpus);
      const double ms = clairvoyant_ms(w, s, limits[i], peers[r]) * g;
      best.floor_gpu_ms = std::min(best.floor_gpu_ms, floor_ms(w, s.coef, limits[i]) * g);
      best.gpu_ms = std::min(best.gpu_ms, ms);
      best.cost = std::min(best.cost, ms / 3.6e6 * s.price_per_gpu_hour);
    }
    priced.push_back(best);
  }
  // The SLO may miss (1 - attainment) of all requests; the unservable and beyond-SLO ones miss
  // already. A policy could drop the costliest of the rest: leave those out.
  const double allowed =
      std::floor(static_cast<double>(work.size()) * (1 - std::clamp(attainment, 0.0, 1.0)));
  const size_t misses = static_cast<size_t>(std::max(0.0, allowed));
  const size_t certain = out.unservable + out.beyond_slo;
  out.exempt = std::min(priced.size(), misses > certain ? misses - certain : 0);
  const auto sum_cheapest = [&](auto field) {
    std::vector<double> v;
    v.reserve(priced.size());
    for (const Priced& p : priced)
      v.push_back(p.*field);
    // Only which ones are cheapest matters, not their order.
    const auto kept = v.begin() + static_cast<std::ptrdiff_t>(v.size() - out.exempt);
    if (out.exempt > 0) std::nth_element(v.begin(), kept, v.end());
    double total = 0;
    for (auto it = v.begin(); it != kept; ++it)
      total += *it;
    return total;
  };
  out.work_floor_gpu_hours = sum_cheapest(&Priced::floor_gpu_ms) / 3.6e6 * kRounding;
  const double clairvoyant = sum_cheapest(&Priced::gpu_ms) / 3.6e6 * kRounding;
  out.lower_bound_gpu_hours = std::max(out.work_floor_gpu_hours, clairvoyant);
  out.lower_bound_cost = sum_cheapest(&Priced::cost) * kRounding;
  return out;
}

std::vector<Tokens> cacheable_prefix(std::span<const std::vector<uint64_t>> blocks,
                                     std::span<const Tokens> prompts,
                                     std::span<const Duration> arrivals, Duration reach,
                                     Tokens block_tokens) {
  // Block id -> the two earliest requests that have it: whether a request has another one early
  // enough needs no more (a request listing a block twice counts once).
  struct Earliest {
    Duration at = Duration::max();
    size_t who = SIZE_MAX;
  };
  struct Holders {
    Earliest first, second;
  };
  std::unordered_map<uint64_t, Holders> holders;
  for (size_t i = 0; i < blocks.size(); ++i) {
    for (uint64_t id : blocks[i]) {
      Holders& h = holders[id];
      if (h.first.who == i || h.second.who == i) continue;
      const Earliest e{arrivals[i], i};
      if (e.at < h.first.at) {
        h.second = h.first;
        h.first = e;
      } else if (e.at < h.second.at) {
        h.second = e;
      }
    }
  }
  std::vector<Tokens> out(blocks.size(), Tokens(0));
  for (size_t i = 0; i < blocks.size(); ++i) {
    // Another request can have left the block in a cache only by finishing before this one's
    // prefill starts, which is before its TTFT target if it meets it.
    const Duration latest =
        arrivals[i] > Duration::max() - reach ? Duration::max() : arrivals[i] + reach;
    int64_t shared = 0;
    for (uint64_t id : blocks[i]) {
      const Holders& h = holders[id];
      const Earliest& other = h.first.who != i ? h.first : h.second;
      if (other.who == SIZE_MAX || other.at > latest) break;
      ++shared;
    }
    out[i] = Tokens(std::min(shared * block_tokens.value, prompts[i].value));
  }
  return out;
}

}  // namespace gf
