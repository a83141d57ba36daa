// Vocabulary: a deterministic token <-> id mapping with counts, saved as JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rnnlab::datasets {

/// Token <-> id mapping. Ids 0..3 are always the special tokens <pad>, <unk>,
/// <bos>, <eos>; the other tokens follow by descending count, ties broken by
/// ascending token bytes, so the same counts always give the same ids.
///
/// Example:
///   auto vocab = Vocab::build(counts, /*min_freq=*/2, /*max_size=*/10000);
///   int64_t id = vocab.id("hello");  // Vocab::kUnk if absent
class Vocab {
 public:
  static constexpr int64_t kPad = 0;
  static constexpr int64_t kUnk = 1;
  static constexpr int64_t kBos = 2;
  static constexpr int64_t kEos = 3;
  static constexpr int64_t kNumSpecials = 4;
  /// The special tokens' strings, indexed by id.
  static const std::vector<std::string>& specials();

  /// An empty vocabulary: only the four specials.
  Vocab();

  /// Builds a vocabulary from token counts. Tokens seen fewer than `min_freq`
  /// times are dropped; `max_size` > 0 caps the size including the four
  /// specials (0 = unlimited). A count for a special's own string ("<unk>" in
  /// PTB) is added to that special rather than making a second entry.
  /// Throws ConfigError if max_size is 1..3 or negative.
  static Vocab build(const std::unordered_map<std::string, int64_t>& counts, int64_t min_freq,
                     int64_t max_size);

  /// Id of `token`, or kUnk if it is not in the vocabulary.
  int64_t id(std::string_view token) const;
  /// True if `token` has an id of its own (specials included).
  bool contains(std::string_view token) const;
  /// The token of `id`; throws DataError if id is out of range.
  const std::string& token(int64_t id) const;
  /// Number of tokens, specials included.
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  /// Training count of `id` (0 for specials not seen in the counts).
  int64_t count(int64_t id) const;
  /// Appends the `tokens` that have no id yet, in order, with count 0 (words
  /// known from elsewhere than the training text, such as a word-vector
  /// file). Returns how many were added.
  int64_t extend(const std::vector<std::string>& tokens);

  /// Writes the vocabulary as JSON {"tokens": [...], "counts": [...]}; throws
  /// RuntimeError if the file cannot be written.
  void save(const std::string& path) const;
  /// Reads a file written by save(); throws DataError naming the file if it is
  /// missing, not JSON, or not a vocabulary (specials missing, duplicates...).
  static Vocab load(const std::string& path);

 private:
  void add(const std::string& token, int64_t count);

  std::vector<std::string> tokens_;
  std::vector<int64_t> counts_;
  std::unordered_map<std::string, int64_t> index_;
};

}  // namespace rnnlab::datasets
