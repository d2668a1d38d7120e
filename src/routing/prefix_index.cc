#include "routing/prefix_index.h"

#include <algorithm>
#include <bit>

#include "routing/hash.h"

namespace gf {

PrefixIndex::PrefixIndex(size_t capacity) {
  capacity = std::max<size_t>(capacity, 1);
  entries_.resize(capacity);
  // At most half full keeps linear-probing runs short (about 1.5 probes for a hit).
  table_.assign(std::bit_ceil(capacity * 2), 0);
  mask_ = table_.size() - 1;
  free_.reserve(capacity);
  for (size_t i = capacity; i-- > 0;)
    free_.push_back(static_cast<uint32_t>(i));
}

size_t PrefixIndex::memory_bytes() const {
  return entries_.capacity() * sizeof(Entry) + table_.capacity() * sizeof(uint64_t) +
         free_.capacity() * sizeof(uint32_t);
}

namespace {
constexpr uint64_t slot_value(uint32_t fp, uint32_t entry) {
  return (static_cast<uint64_t>(fp) << 32) | (static_cast<uint64_t>(entry) + 1);
}
constexpr uint32_t slot_fp(uint64_t v) {
  return static_cast<uint32_t>(v >> 32);
}
constexpr uint32_t slot_entry(uint64_t v) {
  return static_cast<uint32_t>(v) - 1;
}
}  // namespace

uint32_t PrefixIndex::fingerprint(uint64_t key) {
  return static_cast<uint32_t>(mix64(key) >> 32);
}

uint32_t PrefixIndex::find(uint64_t key) const {
  const uint32_t fp = fingerprint(key);
  for (size_t i = home_of_fingerprint(fp);; i = (i + 1) & mask_) {
    const uint64_t t = table_[i];
    if (t == 0) return kNone;
    if (slot_fp(t) == fp && entries_[slot_entry(t)].key == key) return slot_entry(t);
  }
}

void PrefixIndex::erase_from_table(uint64_t key) {
  const uint32_t fp = fingerprint(key);
  size_t i = home_of_fingerprint(fp);
  while (table_[i] != 0 &&
         !(slot_fp(table_[i]) == fp && entries_[slot_entry(table_[i])].key == key))
    i = (i + 1) & mask_;
  if (table_[i] == 0) return;
  // Backward-shift deletion: pull later members of the probe run into the hole, so lookups never
  // need tombstones and the table cannot silt up under churn.
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask_;
    if (table_[j] == 0) break;
    const size_t k = home_of_fingerprint(slot_fp(table_[j]));
    const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (stays) continue;
    table_[i] = table_[j];
    i = j;
  }
  table_[i] = 0;
}

void PrefixIndex::unlink(uint32_t e) {
  Entry& x = entries_[e];
  if (x.prev != kNone)
    entries_[x.prev].next = x.next;
  else
    head_ = x.next;
  if (x.next != kNone)
    entries_[x.next].prev = x.prev;
  else
    tail_ = x.prev;
  x.prev = x.next = kNone;
}

void PrefixIndex::push_front(uint32_t e) {
  Entry& x = entries_[e];
  x.prev = kNone;
  x.next = head_;
  if (head_ != kNone) entries_[head_].prev = e;
  head_ = e;
  if (tail_ == kNone) tail_ = e;
}

void PrefixIndex::release(uint32_t e) {
  unlink(e);
  erase_from_table(entries_[e].key);
  entries_[e].owners.fill(kNoOwner);
  free_.push_back(e);
  --size_;
}

void PrefixIndex::record(std::span<const uint64_t> blocks, ReplicaSlot owner) {
  if (owner == kNoOwner) return;
  // More checkpoints than entries would evict the request's own beginning: keep the shortest.
  const size_t k = std::min(checkpoints_upto(blocks.size()), entries_.size());
  for (size_t i = k; i > 0; --i)
    touch(blocks[checkpoint(i) - 1], owner);
}

void PrefixIndex::touch(uint64_t key, ReplicaSlot owner) {
  uint32_t e = find(key);
  if (e == kNone) {
    if (free_.empty()) release(tail_);
    e = free_.back();
    free_.pop_back();
    Entry& x = entries_[e];
    x.key = key;
    x.owners.fill(kNoOwner);
    x.owners[0] = owner;
    const uint32_t fp = fingerprint(key);
    size_t t = home_of_fingerprint(fp);
    while (table_[t] != 0)
      t = (t + 1) & mask_;
    table_[t] = slot_value(fp, e);
    ++size_;
    push_front(e);
    return;
  }
  // Move `owner` to the front, shifting the others back; the oldest falls off when full.
  Owners& o = entries_[e].owners;
  int at = kMaxOwners - 1;
  for (int j = 0; j < kMaxOwners; ++j)
    if (o[j] == owner) {
      at = j;
      break;
    }
  for (int j = at; j > 0; --j)
    o[j] = o[j - 1];
  o[0] = owner;
  if (head_ != e) {
    unlink(e);
    push_front(e);
  }
}

void PrefixIndex::forget(ReplicaSlot owner) {
  for (uint32_t e = head_; e != kNone;) {
    const uint32_t next = entries_[e].next;
    Owners& o = entries_[e].owners;
    auto last = std::remove(o.begin(), o.end(), owner);
    std::fill(last, o.end(), kNoOwner);
    if (o[0] == kNoOwner) release(e);
    e = next;
  }
}

const PrefixIndex::Owners* PrefixIndex::owners(uint64_t block) const {
  const uint32_t e = find(block);
  return e == kNone ? nullptr : &entries_[e].owners;
}

}  // namespace gf
