// Deriving seeds: one well-mixed 64-bit number from another, so that seeds
// built from small numbers (run.seed, an epoch, a thread, a fold) give
// unrelated random streams.
#pragma once

#include <cstdint>

namespace rnnlab::datasets {

/// splitmix64 (Steele, Lea and Flood 2014): a bijective mix of all 64 bits.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace rnnlab::datasets
