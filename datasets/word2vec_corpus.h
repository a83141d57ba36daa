// The word2vec corpus as word2vec.c reads it: whitespace-separated tokens,
// one sentence per line, a vocabulary with a minimum count and a maximum
// size, and the two random draws of training: subsampling of frequent words
// and the dynamic window.
//
// Everything random here uses word2vec.c's own generator
// (next = next * 25214903917 + 11, 64-bit), so that a seed gives the same
// draws on every platform and in every thread that starts from the same state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rnnlab::datasets {

/// Lower-cases ASCII letters and turns every byte outside [a-z0-9] and the
/// line break into a space, so that tools compare on identical tokens (the
/// normalisation of Matt Mahoney's text8 script, without the digit spelling).
/// Multi-byte UTF-8 characters become spaces too.
std::string normalize_word2vec(std::string_view text);

/// Options of the word2vec vocabulary.
struct WordVocabOptions {
  /// Words seen fewer times are dropped (word2vec.c -min-count). Default: 5
  int64_t min_count = 5;
  /// Keep at most this many words, the most frequent (0: all). Default: 0
  int64_t max_size = 0;
  /// Apply normalize_word2vec() before splitting. Default: false
  bool normalize = false;
};

/// The vocabulary: words by descending count (ties by ascending bytes, so the
/// same corpus always gives the same ids), and their counts.
struct WordVocab {
  std::vector<std::string> words;
  std::vector<int64_t> counts;
  std::unordered_map<std::string, int64_t> index;
  int64_t size() const { return static_cast<int64_t>(words.size()); }
  /// Id of `word`, or -1.
  int64_t find(std::string_view word) const;
  /// Sum of the counts: the number of corpus words the vocabulary covers.
  int64_t total() const;
};

/// Counts the words of `files` (whitespace-separated) and builds the
/// vocabulary. DataError naming the file if one cannot be read, if the corpus
/// has no word, or if no word reaches min_count (with the most frequent
/// word's count, so the user sees what to lower).
WordVocab build_word_vocab(const std::vector<std::string>& files, const WordVocabOptions& options);

/// The corpus as word ids, sentence by sentence: `ids` holds every
/// in-vocabulary word in order (out-of-vocabulary words are dropped, as
/// word2vec.c does), and sentence s is ids[offsets[s], offsets[s+1]).
/// A line is a sentence; lines longer than `max_sentence` words are cut into
/// pieces of that length (word2vec.c: 1000; gensim: 10000).
struct EncodedCorpus {
  std::vector<int32_t> ids;
  std::vector<int64_t> offsets;  ///< sentences + 1 entries, offsets[0] = 0
  int64_t sentences() const { return static_cast<int64_t>(offsets.size()) - 1; }
};
EncodedCorpus encode_word_corpus(const std::vector<std::string>& files, const WordVocab& vocab,
                                 bool normalize, int64_t max_sentence = 1000);

/// word2vec.c's random number generator: next = next * 25214903917 + 11.
struct Word2VecRandom {
  uint64_t state;
  explicit Word2VecRandom(uint64_t seed) : state(seed) {}
  uint64_t next() {
    state = state * 25214903917ULL + 11;
    return state;
  }
  /// A uniform draw in [0, 1) from 16 bits of the state, as word2vec.c does
  /// for subsampling: (next & 0xFFFF) / 65536.
  double uniform() { return static_cast<double>(next() & 0xFFFF) / 65536.0; }
};

/// Probability of keeping each word when subsampling with threshold `sample`
/// (word2vec.c -sample; 0 keeps everything): with f = count / total,
///   keep = (sqrt(f / sample) + 1) * sample / f, capped at 1.
std::vector<float> keep_probabilities(const WordVocab& vocab, double sample);

/// Draws the words of one sentence that survive subsampling (in order) into
/// `out` (cleared first; a trainer reuses one buffer for every sentence).
void subsample(const int32_t* begin, const int32_t* end, const std::vector<float>& keep,
               Word2VecRandom& rng, std::vector<int32_t>& out);
/// The same, returning a new vector.
std::vector<int32_t> subsample(const int32_t* begin, const int32_t* end,
                               const std::vector<float>& keep, Word2VecRandom& rng);

/// The dynamic window: word2vec.c draws b = next % window and uses the
/// window - b words on each side, uniform in 1..window.
inline int64_t dynamic_window(int64_t window, Word2VecRandom& rng) {
  return window - static_cast<int64_t>(rng.next() % static_cast<uint64_t>(window));
}

}  // namespace rnnlab::datasets
