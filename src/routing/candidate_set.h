// Finds a pick's candidates by replica slot, for policies that reach replicas through a ring or
// the prefix index rather than through the candidate list. Generation-stamped so that starting
// a new pick is O(candidates), with no clearing and no allocation once grown.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "routing/replica_view.h"

namespace gf {

class CandidateSet {
 public:
  void assign(std::span<const ReplicaView* const> candidates) {
    if (++gen_ == 0) {  // wrapped: old stamps could alias, so really clear once
      for (Cell& c : cells_)
        c = Cell{};
      gen_ = 1;
    }
    for (size_t i = 0; i < candidates.size(); ++i) {
      const ReplicaSlot s = candidates[i]->slot;
      if (s >= cells_.size()) cells_.resize(s + 1);
      cells_[s] = Cell{gen_, static_cast<int32_t>(i), 0};
    }
  }

  // Position in the candidate list, or -1 when the slot is not a candidate of this pick.
  int position(ReplicaSlot s) const {
    return s < cells_.size() && cells_[s].gen == gen_ ? cells_[s].pos : -1;
  }

  // Longest prefix (in blocks) this candidate is known to hold; 0 unless raised.
  size_t matched(ReplicaSlot s) const { return position(s) < 0 ? 0 : cells_[s].matched; }
  void raise_matched(ReplicaSlot s, size_t blocks) {
    if (position(s) >= 0 && blocks > cells_[s].matched) cells_[s].matched = blocks;
  }

 private:
  struct Cell {
    uint32_t gen = 0;
    int32_t pos = -1;
    size_t matched = 0;
  };
  std::vector<Cell> cells_;
  uint32_t gen_ = 0;
};

}  // namespace gf
