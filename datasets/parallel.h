// Line-aligned parallel text for translation: line i of the source file and
// line i of the target file are one sentence pair (Multi30k's train.en /
// train.de). Reading checks the alignment; filtering drops training pairs
// by length, as fairseq's and Marian's length filters do.
//
// Typical use:
//   ParallelText train = read_parallel("multi30k/train.en", "multi30k/train.de");
//   std::vector<int64_t> keep = filter_by_length(src_lens, tgt_lens, {1, 100, 3.0});
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rnnlab::datasets {

/// Sentence pairs: src[i] translates to tgt[i].
struct ParallelText {
  std::vector<std::string> src, tgt;
  std::string src_path, tgt_path;  ///< where they were read from (for messages)
  int64_t size() const { return static_cast<int64_t>(src.size()); }
};

/// Reads two line-aligned UTF-8 files. A trailing "\r" is removed from each
/// line; a final newline does not add a pair. Throws DataError (one line) if
/// either file is missing, empty or not UTF-8 (naming file, line and column),
/// or if the line counts differ:
///   "line-aligned files differ in length: train.en has 29000 lines, train.de has 28999"
/// Empty lines are kept (a pair with an empty side is the caller's to filter
/// or to reject).
ParallelText read_parallel(const std::string& src_path, const std::string& tgt_path);

/// Which training pairs to keep, by their lengths in tokens.
struct LengthFilter {
  /// Both sides need at least this many tokens. Default: 1 (drops empty sides)
  int64_t min_length = 1;
  /// Neither side may have more (0: no limit). Default: 0
  int64_t max_length = 0;
  /// max(src, tgt) / min(src, tgt) may not exceed this (0: no limit), as
  /// Moses' clean-corpus-n ratio. Default: 0
  double max_ratio = 0;
};

/// The indices i (ascending) of the pairs whose lengths src_lengths[i] and
/// tgt_lengths[i] pass `filter`. std::invalid_argument if the sizes differ.
std::vector<int64_t> filter_by_length(const std::vector<int64_t>& src_lengths,
                                      const std::vector<int64_t>& tgt_lengths,
                                      const LengthFilter& filter);

}  // namespace rnnlab::datasets
