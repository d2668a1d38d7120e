// Fast non-cryptographic 64-bit hashing for routing: XXH64 over bytes and a 64-bit mixer.
// Routing hashes prompts on every request, so speed matters more than resistance to crafted
// collisions: a collision can only send a request to a replica without its prefix cached.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gf {

// XXH64 (Yann Collet's xxHash, 64-bit variant) from libxxhash. The result is fixed by its
// specification on every platform and build, so independent gateways hash a key alike.
uint64_t xxh64(const void* data, size_t size, uint64_t seed);

inline uint64_t xxh64(std::string_view text, uint64_t seed = 0) {
  return xxh64(text.data(), text.size(), seed);
}

// splitmix64's finalizer: spreads keys that may be small or sequential (trace block ids) over
// all 64 bits before they index a table or a ring.
constexpr uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace gf
