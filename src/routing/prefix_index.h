// The bounded prefix index: which replicas were last sent each prefix, LRU-evicted at a fixed
// number of entries. All memory is allocated when it is built and never grows: the vLLM
// production stack's prefix trie "assumes no eviction" and runs its router out of memory after
// hours (production-stack#687); this one cannot.
//
// Checkpoints: the index remembers prefixes at geometrically spaced lengths only — every length
// up to 8 blocks, then 4 lengths per doubling (10, 12, 14, 16, 20, 24, 28, 32, 40 ... 128):
// exact near the start, where prompts diverge (system prompts, few-shot examples), within 1/8
// of the length deep into a long conversation, where that much is noise for routing. A
// 128-block prompt costs 24 entries instead of 128: 5x less work per request, and the same
// memory remembers 5x more conversations. Block hashes are chained, so the entry at length L
// alone identifies the whole L-block prefix.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace gf {

// A replica as the index knows it: its slot in the model's replica table (ReplicaView::slot).
using ReplicaSlot = uint16_t;

class PrefixIndex {
 public:
  // A block remembers this many replicas, most recent first. A popular prefix (a shared system
  // prompt) lives on several replicas once bounded loads spill it; remembering more than one
  // lets a router pick among them instead of forgetting all but the last.
  static constexpr int kMaxOwners = 4;
  static constexpr ReplicaSlot kNoOwner = 0xFFFF;
  using Owners = std::array<ReplicaSlot, kMaxOwners>;

  struct Match {
    size_t blocks = 0;  // length of the longest remembered prefix of the request, in blocks
    Owners owners{kNoOwner, kNoOwner, kNoOwner, kNoOwner};  // of that block, most recent first
  };

  // capacity: entries (checkpoint prefixes) kept, at least 1. Memory: 44 bytes per entry when
  // capacity is a power of two, up to 60 otherwise (the table is rounded up to one).
  explicit PrefixIndex(size_t capacity);

  // Checkpoint arithmetic: how many checkpoint lengths are <= n, and the k-th (1-based) one.
  static constexpr size_t checkpoints_upto(size_t n) {
    if (n <= 8) return n;
    const int j = std::bit_width(n - 1) - 1;  // n in (2^j, 2^(j+1)]
    const size_t octave = size_t{1} << j;
    return 8 + 4 * static_cast<size_t>(j - 3) + (n - octave) / (octave / 4);
  }
  static constexpr size_t checkpoint(size_t k) {
    if (k <= 8) return k;
    const size_t j = 3 + (k - 9) / 4;
    const size_t m = (k - 9) % 4 + 1;
    return (size_t{1} << j) + m * (size_t{1} << (j - 2));
  }

  // The longest remembered prefix of `blocks`. The index is prefix-closed (see record), so this
  // is a binary search over checkpoints: ~5 probes for 128 blocks. `on_hit(length, owners)` is
  // called for every remembered prefix the search probes, which gives lower bounds on how much
  // of the request other replicas hold.
  template <class OnHit>
  Match longest_match(std::span<const uint64_t> blocks, OnHit&& on_hit) const {
    Match m;
    size_t lo = 0;  // in checkpoints
    size_t hi = checkpoints_upto(blocks.size());
    while (lo < hi) {
      const size_t mid = lo + (hi - lo + 1) / 2;
      const size_t length = checkpoint(mid);
      const uint32_t e = find(blocks[length - 1]);
      if (e == kNone) {
        hi = mid - 1;
        continue;
      }
      lo = mid;
      m.owners = entries_[e].owners;
      on_hit(length, m.owners);
    }
    m.blocks = checkpoint(lo);
    return m;
  }
  Match longest_match(std::span<const uint64_t> blocks) const {
    return longest_match(blocks, [](size_t, const Owners&) {});
  }

  // `owner` was sent a request with these chained blocks: each checkpoint prefix becomes the
  // most recently used entry with `owner` first among its owners. Prefixes are touched longest
  // first, so a shorter prefix is never less recent than a longer one and LRU eviction removes
  // long prefixes before their own beginnings: the index stays prefix-closed, which
  // longest_match relies on. At most capacity() checkpoints of one request are kept.
  void record(std::span<const uint64_t> blocks, ReplicaSlot owner);

  // The replica is gone: drop it from every entry, and entries left with no owner. O(size()).
  void forget(ReplicaSlot owner);

  // Owners of the prefix ending at this block, for tests and diagnostics; nullptr when it is
  // not remembered.
  const Owners* owners(uint64_t block) const;

  size_t size() const { return size_; }
  size_t capacity() const { return entries_.size(); }
  // What the index holds in memory; fixed at construction.
  size_t memory_bytes() const;

 private:
  static constexpr uint32_t kNone = 0xFFFFFFFF;

  struct Entry {
    uint64_t key = 0;
    Owners owners{kNoOwner, kNoOwner, kNoOwner, kNoOwner};
    uint32_t prev = kNone;  // towards the most recently used
    uint32_t next = kNone;  // towards the least recently used
  };

  // A table slot holds the high 32 bits of the key's mixed hash (which also pick its home slot)
  // and entry index + 1; 0 = empty. Probes and backward shifts read only the table; an entry
  // is read only when the fingerprint matches, so absent keys cost one cache line.
  static uint32_t fingerprint(uint64_t key);
  size_t home_of_fingerprint(uint32_t fp) const { return fp & mask_; }
  uint32_t find(uint64_t key) const;
  void touch(uint64_t key, ReplicaSlot owner);
  void erase_from_table(uint64_t key);
  void unlink(uint32_t e);
  void push_front(uint32_t e);
  void release(uint32_t e);  // unlink, un-table and free an entry

  // Entries live in a fixed array linked into an LRU list; an open-addressing table (linear
  // probing, at most half full, backward-shift deletion) maps a key to its entry.
  std::vector<Entry> entries_;
  std::vector<uint64_t> table_;
  size_t mask_ = 0;
  std::vector<uint32_t> free_;  // unused entries
  uint32_t head_ = kNone;       // most recently used
  uint32_t tail_ = kNone;       // least recently used: evicted first
  size_t size_ = 0;
};

}  // namespace gf
