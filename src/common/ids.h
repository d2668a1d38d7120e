// Identifiers: names that users write (node, deployment, tenant) and ids the pool hands out.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>

namespace gf {

// A dense index into a pool's tables; cheap to copy and to hash. Tag keeps kinds apart.
// (The NOLINTs below silence a clang-tidy 14 false positive on defaulted operator<=>.)
template <class Tag>
struct Index {
  uint32_t value = 0;
  constexpr auto operator<=>(const Index&) const = default;  // NOLINT(modernize-use-nullptr)
};

struct NodeTag {};
struct GpuTag {};
using NodeIndex = Index<NodeTag>;
using GpuIndex = Index<GpuTag>;

// Allocation ids are never reused, so a stale id from a crashed caller can't free someone else's
// GPUs.
struct AllocationId {
  uint64_t value = 0;
  constexpr auto operator<=>(const AllocationId&) const = default;  // NOLINT(modernize-use-nullptr)
  constexpr bool valid() const { return value != 0; }
};

struct ReservationId {
  uint64_t value = 0;
  constexpr auto operator<=>(const ReservationId&) const =
      default;  // NOLINT(modernize-use-nullptr)
  constexpr bool valid() const { return value != 0; }
};

inline std::string to_string(AllocationId id) {
  return "alloc-" + std::to_string(id.value);
}
inline std::string to_string(ReservationId id) {
  return "resv-" + std::to_string(id.value);
}

}  // namespace gf

template <class Tag>
struct std::hash<gf::Index<Tag>> {
  size_t operator()(gf::Index<Tag> i) const noexcept { return std::hash<uint32_t>{}(i.value); }
};
template <>
struct std::hash<gf::AllocationId> {
  size_t operator()(gf::AllocationId i) const noexcept { return std::hash<uint64_t>{}(i.value); }
};
