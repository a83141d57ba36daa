// Batching for classification and translation: padded time-major batches,
// fixed-size batches, and token-budget batches with length bucketing.
//
// Everything here is deterministic across processes and platforms for a given
// seed: shuffles use std::mt19937_64 (whose output sequence the C++ standard
// fixes) with this file's own Fisher-Yates and unbiased bounded draws, never
// std::shuffle or std::uniform_int_distribution (implementation-defined).
//
// Typical use, one epoch of translation training:
//   std::vector<int64_t> lens = max_lengths(src_lens, tgt_lens);
//   TokenBudgetOptions opt;
//   opt.max_tokens = 4096;
//   opt.seed = epoch_seed(config_seed, epoch);
//   for (const auto& idx : batch_by_tokens(lens, opt)) {
//     PaddedBatch src = pad_batch(src_ids, idx);  // src.tokens (T, B)
//     PaddedBatch tgt = pad_batch(tgt_ids, idx);  // same columns, same examples
//     ...
//   }
//
// Errors: an empty sequence in pad_batch throws DataError naming the example;
// a non-positive batch_size / max_tokens or a negative max_sentences throws
// ConfigError; a wrong argument (an index out of range, a negative length or
// count, an empty index list) throws std::invalid_argument.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace rnnlab::datasets {

/// A batch of variable-length id sequences, padded and time-major, as
/// Recurrent::forward (modules/recurrent.h) takes it after an embedding:
/// tokens (T, B) -> embedding -> (T, B, E), with `lengths` (B).
struct PaddedBatch {
  /// (T, B) int64, time-major: column b is example indices[b], its first
  /// lengths[b] rows are its ids, the rest are the pad id (Vocab::kPad = 0 by
  /// default). T is the longest length in the batch.
  torch::Tensor tokens;
  /// (B) int64: the true length of each column.
  torch::Tensor lengths;
  /// (T, B) bool: true on real tokens, false on padding (mask[t][b] is
  /// t < lengths[b]).
  torch::Tensor mask;
  /// The examples in the batch (positions in the input list), in column order.
  std::vector<int64_t> indices;
};

/// Pads the sequences seqs[indices[0]], seqs[indices[1]], ... into one batch.
///   seqs:    all examples, each a vector of token ids.
///   indices: which examples go in the batch, in column order (B = size).
///   pad_id:  the id written after each sequence's end (Vocab::kPad = 0).
///   allow_empty: whether an empty sequence is accepted (length 0, an all-pad
///     column; T is then 0 if every sequence is empty). Off by default because
///     the recurrent modules need every length >= 1: an empty sequence throws
///     DataError "example <i> is empty (0 tokens); ..." with i its position
///     in `seqs`.
/// Returns tokens (T, B) int64, lengths (B) int64, mask (T, B) bool, indices.
/// Throws std::invalid_argument if `indices` is empty or holds a position
/// outside [0, seqs.size()).
PaddedBatch pad_batch(const std::vector<std::vector<int64_t>>& seqs,
                      const std::vector<int64_t>& indices, int64_t pad_id = 0,
                      bool allow_empty = false);

/// Splits the examples 0..n-1 into batches of `batch_size` (the last one
/// holds the n % batch_size left over, if any; no batch is empty; n = 0 gives
/// no batch). Without `shuffle` the batches are {0..bs-1}, {bs..2bs-1}, ... in
/// order; with it the examples are first permuted by a Fisher-Yates shuffle
/// driven by std::mt19937_64(seed), identical on every platform.
/// Returns ceil(n / batch_size) index lists covering every index exactly once.
/// Throws ConfigError if batch_size <= 0, std::invalid_argument if n < 0.
std::vector<std::vector<int64_t>> make_batches(int64_t n, int64_t batch_size, bool shuffle,
                                               uint64_t seed);

/// Options of batch_by_tokens().
struct TokenBudgetOptions {
  /// Cap on a batch's padded size: (examples in the batch) * (longest length
  /// in the batch). Must be > 0.
  int64_t max_tokens = 4096;
  /// Cap on the number of examples in a batch; 0 = no cap. Default: 0.
  int64_t max_sentences = 0;
  /// Break length ties randomly and shuffle the order of the batches.
  /// Default: true.
  bool shuffle = true;
  /// Seed of both random choices (see epoch_seed()). Default: 1.
  uint64_t seed = 1;
};

/// Token-budget batches with length bucketing, as fairseq's batch_by_size:
///  1. sorts the examples by length, ascending and stable: ties are broken by
///     index, or with `shuffle` by a random permutation drawn from `seed`;
///  2. walks that order and cuts it into consecutive runs, greedily, closing a
///     batch when adding the next example would make
///     (batch size) * (longest length in it) > max_tokens, or the batch size
///     exceed max_sentences (when > 0);
///  3. with `shuffle`, permutes the order of the batches (Fisher-Yates, seed).
/// Within a batch the examples are in ascending length order, so the lengths
/// of a batch are a contiguous run of the sorted lengths.
///
/// lengths: (n) the length of each example. For translation pass the per-pair
///   max(source length, target length) (see max_lengths()): the budget then
///   bounds the padded size of both the source and the target batch. A length
///   of 0 counts as 1 token in the cost, so empty examples cannot form an
///   unbounded batch.
/// An example longer than max_tokens on its own is not an error (fairseq's
/// batch_by_size raises): it gets a batch of its own, the only kind of batch
/// whose padded size exceeds max_tokens.
/// Returns index lists covering every index 0..n-1 exactly once; n = 0 gives
/// no batch.
/// Throws ConfigError if max_tokens <= 0 or max_sentences < 0,
/// std::invalid_argument if a length is negative.
std::vector<std::vector<int64_t>> batch_by_tokens(const std::vector<int64_t>& lengths,
                                                  const TokenBudgetOptions& options);

/// Per-pair max(a[i], b[i]) of two length lists, the lengths batch_by_tokens()
/// takes for translation (a: source lengths, b: target lengths).
/// Throws std::invalid_argument if the sizes differ.
std::vector<int64_t> max_lengths(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

/// The seed of epoch `epoch` (0-based) of a run seeded with `seed`: a
/// splitmix64 mix of both, so each epoch has its own order, reproducible.
/// The app computes it at the start of each epoch and passes it as the seed
/// of make_batches() or TokenBudgetOptions::seed:
///   auto batches = make_batches(n, bs, /*shuffle=*/true, epoch_seed(seed, epoch));
/// An epoch's order depends only on (seed, epoch), not on earlier epochs, so a
/// run resumed from a checkpoint mid-epoch rebuilds the same batch list from
/// the saved epoch number and skips the batches it had already done.
uint64_t epoch_seed(uint64_t seed, int64_t epoch);

}  // namespace rnnlab::datasets
