#include "datasets/batching.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>

#include "core/error.h"
#include "datasets/seed.h"

namespace rnnlab::datasets {
namespace {

// A uniform draw in [0, bound), bound > 0, without modulo bias: draws below
// 2^64 mod bound are rejected, so the remaining range is a multiple of bound.
// Only mt19937_64's output (fixed by the standard) and integer arithmetic are
// involved, so the result is the same on every platform.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
  uint64_t x;
  do {
    x = rng();
  } while (x < threshold);
  return x % bound;
}

// Fisher-Yates shuffle of `v` in place (Knuth's algorithm P, from the back).
template <typename T>
void fisher_yates(std::vector<T>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(uniform_below(rng, static_cast<uint64_t>(i)));
    std::swap(v[i - 1], v[j]);
  }
}

// 0, 1, ..., n-1.
std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), int64_t{0});
  return v;
}

}  // namespace

PaddedBatch pad_batch(const std::vector<std::vector<int64_t>>& seqs,
                      const std::vector<int64_t>& indices, int64_t pad_id, bool allow_empty) {
  if (indices.empty()) throw std::invalid_argument("pad_batch: empty index list");
  const auto n = static_cast<int64_t>(seqs.size());
  int64_t T = 0;
  for (int64_t i : indices) {
    if (i < 0 || i >= n) {
      throw std::invalid_argument("pad_batch: example index " + std::to_string(i) +
                                  " is out of range [0, " + std::to_string(n) + ")");
    }
    const auto len = static_cast<int64_t>(seqs[static_cast<size_t>(i)].size());
    if (len == 0 && !allow_empty) {
      throw DataError("example " + std::to_string(i) +
                      " is empty (0 tokens); a recurrent batch needs at least one token per "
                      "sequence");
    }
    T = std::max(T, len);
  }
  const auto B = static_cast<int64_t>(indices.size());

  PaddedBatch batch;
  // tokens (T, B) filled with pad, then column b gets example indices[b]
  batch.tokens = torch::full({T, B}, pad_id, torch::kInt64);
  batch.lengths = torch::empty({B}, torch::kInt64);
  auto tok = batch.tokens.accessor<int64_t, 2>();
  auto len = batch.lengths.accessor<int64_t, 1>();
  for (int64_t b = 0; b < B; ++b) {
    const auto& seq = seqs[static_cast<size_t>(indices[static_cast<size_t>(b)])];
    const auto L = static_cast<int64_t>(seq.size());
    for (int64_t t = 0; t < L; ++t) tok[t][b] = seq[static_cast<size_t>(t)];
    len[b] = L;
  }
  // mask (T, B): arange(T) (T, 1) < lengths (1, B)
  batch.mask = torch::arange(T, torch::kInt64).unsqueeze(1).lt(batch.lengths.unsqueeze(0));
  batch.indices = indices;
  return batch;
}

std::vector<std::vector<int64_t>> make_batches(int64_t n, int64_t batch_size, bool shuffle,
                                               uint64_t seed) {
  if (batch_size <= 0) {
    throw ConfigError("batch_size must be positive, got " + std::to_string(batch_size));
  }
  if (n < 0) throw std::invalid_argument("make_batches: negative example count");
  std::vector<int64_t> order = iota(n);
  if (shuffle) {
    std::mt19937_64 rng(seed);
    fisher_yates(order, rng);
  }
  std::vector<std::vector<int64_t>> batches;
  batches.reserve(static_cast<size_t>((n + batch_size - 1) / batch_size));
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t end = std::min(n, start + batch_size);
    batches.emplace_back(order.begin() + start, order.begin() + end);
  }
  return batches;
}

std::vector<std::vector<int64_t>> batch_by_tokens(const std::vector<int64_t>& lengths,
                                                  const TokenBudgetOptions& options) {
  if (options.max_tokens <= 0) {
    throw ConfigError("max_tokens must be positive, got " + std::to_string(options.max_tokens));
  }
  if (options.max_sentences < 0) {
    throw ConfigError("max_sentences must be 0 (no cap) or positive, got " +
                      std::to_string(options.max_sentences));
  }
  const auto n = static_cast<int64_t>(lengths.size());
  for (int64_t i = 0; i < n; ++i) {
    if (lengths[static_cast<size_t>(i)] < 0) {
      throw std::invalid_argument("batch_by_tokens: example " + std::to_string(i) +
                                  " has a negative length");
    }
  }
  std::mt19937_64 rng(options.seed);

  // 1. tie-break rank: the index itself, or a seeded random permutation
  std::vector<int64_t> rank = iota(n);
  if (options.shuffle) fisher_yates(rank, rng);
  std::vector<int64_t> order = iota(n);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    const int64_t la = lengths[static_cast<size_t>(a)], lb = lengths[static_cast<size_t>(b)];
    if (la != lb) return la < lb;
    return rank[static_cast<size_t>(a)] < rank[static_cast<size_t>(b)];
  });

  // 2. greedy consecutive runs: lengths ascend, so the newcomer is the longest
  std::vector<std::vector<int64_t>> batches;
  std::vector<int64_t> current;
  int64_t longest = 0;  // cost length of `current`'s longest example (>= 1)
  for (int64_t i : order) {
    const int64_t cost_len = std::max<int64_t>(1, lengths[static_cast<size_t>(i)]);
    const auto size = static_cast<int64_t>(current.size()) + 1;
    const bool over_tokens = size * std::max(longest, cost_len) > options.max_tokens;
    const bool over_sentences = options.max_sentences > 0 && size > options.max_sentences;
    // an empty batch always takes the example: an oversized one sits alone
    if (!current.empty() && (over_tokens || over_sentences)) {
      batches.push_back(std::move(current));
      current.clear();
      longest = 0;
    }
    current.push_back(i);
    longest = std::max(longest, cost_len);
  }
  if (!current.empty()) batches.push_back(std::move(current));

  // 3. shuffle the order of the batches
  if (options.shuffle) fisher_yates(batches, rng);
  return batches;
}

std::vector<int64_t> max_lengths(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  if (a.size() != b.size()) {
    throw std::invalid_argument("max_lengths: " + std::to_string(a.size()) + " source but " +
                                std::to_string(b.size()) + " target lengths");
  }
  std::vector<int64_t> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = std::max(a[i], b[i]);
  return out;
}

uint64_t epoch_seed(uint64_t seed, int64_t epoch) {
  return derive_seed(seed, "batches", {static_cast<uint64_t>(epoch)});
}

}  // namespace rnnlab::datasets
