// Deriving seeds: one well-mixed 64-bit number from another, so that seeds
// built from small numbers (run.seed, an epoch, a thread, a fold) give
// unrelated random streams.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace rnnlab::datasets {

/// splitmix64 (Steele, Lea and Flood 2014): a bijective mix of all 64 bits.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// The seed of one named stream of random draws of a run: `stream` says what
/// is drawn, `indices` which one. Every seeded draw of a run that is not the
/// global torch generator (weights, dropout: seeded once with run.seed) goes
/// through it:
///   "batches"          (epoch)          the order and grouping of an epoch's batches
///   "dev-split"        (fold)           the dev part of a cross-validation fold
///   "word2vec-batch"   (epoch, batch)   subsampling and windows of an autograd batch
///   "word2vec-negatives" (epoch, batch) its negative samples
///   "hogwild-thread"   (epoch, thread)  a Hogwild worker's generator
/// Streams of different names or indices are unrelated whatever the seed
/// (the name is hashed, FNV-1a, and each index mixed in with splitmix64).
/// The draws that define a benchmark's data (MNIST's permutation and digit
/// strips) have seeds of their own and do not change with this function.
inline uint64_t derive_seed(uint64_t seed, std::string_view stream,
                            std::initializer_list<uint64_t> indices = {}) {
  uint64_t name = 0xCBF29CE484222325ULL;
  for (char c : stream) name = (name ^ static_cast<unsigned char>(c)) * 0x100000001B3ULL;
  uint64_t h = splitmix64(seed ^ splitmix64(name));
  for (uint64_t i : indices) h = splitmix64(h ^ splitmix64(i + 0x632BE59BD9B4E019ULL));
  return h;
}

}  // namespace rnnlab::datasets
