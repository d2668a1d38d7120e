#include "routing/hash.h"

#include <xxhash.h>

namespace gf {

// libxxhash's XXH64 (Debian's libxxhash-dev), the specification's reference code.
uint64_t xxh64(const void* data, size_t size, uint64_t seed) {
  return XXH64(data, size, seed);
}

}  // namespace gf
