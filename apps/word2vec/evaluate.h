// The evaluations word2vec users know, over WordVectors (datasets/word_vectors.h):
// nearest neighbours, the Google analogy test as gensim's
// evaluate_word_analogies (and word2vec.c's compute-accuracy) score it, and
// word-similarity sets (WordSim-353, SimLex-999, Rare Words) scored by
// Spearman correlation as gensim's evaluate_word_pairs does.
//
// Case folding: the analogy and similarity evaluations are case-insensitive.
// Words are lower-cased byte by byte, ASCII letters only (the test sets are
// ASCII; word2vec.c upper-cases with toupper() in the C locale, the same
// thing). When two vocabulary words fold to the same word (e.g. "The" and
// "the"), a question word stands for the first of them, the most frequent in
// a word2vec-written file (what gensim and compute-accuracy look up).
//
// Typical use:
//   auto wv = rnnlab::datasets::read_word2vec("vectors.bin");
//   auto acc = evaluate_analogies(wv, "data/analogy/questions-words.txt");
//   std::printf("%.2f%% of %lld\n", 100 * acc.overall.accuracy(), (long long)acc.overall.total);
//   auto sim = evaluate_similarity(wv, "data/wordsim353/combined.csv");
//   std::printf("Spearman %.4f over %lld pairs\n", sim.spearman, (long long)sim.pairs);
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "datasets/word_vectors.h"

namespace rnnlab::word2vec {

using datasets::WordVectors;

/// ASCII lower-case of `word` (other bytes unchanged).
std::string fold_case(std::string word);

/// The `k` words nearest to `word` by cosine similarity over the whole
/// vocabulary (exact, case-sensitive lookup), best first, `word` itself
/// excluded; fewer than k if the vocabulary is smaller. A zero vector has
/// cosine 0 with everything.
/// Throws DataError "word '<word>' is not in the vocabulary" if absent,
/// std::invalid_argument if k < 0.
std::vector<std::pair<std::string, double>> neighbors(const WordVectors& wv,
                                                      const std::string& word, int64_t k);

/// Counts of one analogy section (or of a total).
struct AnalogySection {
  std::string name;
  /// Covered questions answered right.
  int64_t correct = 0;
  /// Covered questions: all four words in the restricted vocabulary.
  int64_t total = 0;
  /// Questions skipped because a word is outside the restricted vocabulary.
  int64_t skipped = 0;
  /// correct / total, 0 if total is 0.
  double accuracy() const { return total ? static_cast<double>(correct) / total : 0.0; }
};

/// Result of evaluate_analogies().
struct AnalogyResult {
  /// One entry per ": name" section, in file order.
  std::vector<AnalogySection> sections;
  /// Every section ("Total accuracy" in compute-accuracy; gensim's score is
  /// overall.accuracy()).
  AnalogySection overall{"total"};
  /// Sections whose name does not start with "gram" (capital-common-countries,
  /// ..., family in the Google set).
  AnalogySection semantic{"semantic"};
  /// Sections whose name starts with "gram".
  AnalogySection syntactic{"syntactic"};
  /// Non-blank lines that are neither a section header nor 4 words; skipped.
  int64_t malformed = 0;
  /// 1-based line number of the first malformed line, 0 if none.
  int64_t first_malformed_line = 0;
  /// The number of vocabulary words used (min(restrict_vocab, V)).
  int64_t vocab_used = 0;
};

/// Scores the analogy questions in `questions_path` (word2vec's
/// questions-words.txt format) as gensim's evaluate_word_analogies(
/// restrict_vocab, case_insensitive=True) does (same counts per section on a
/// 23,700-word model), and as word2vec.c's compute-accuracy does up to case
/// variants (compute-accuracy excludes only the first rows of a, b and c, so a
/// later "KING" can be its wrong answer; gensim and this exclude it too).
///
/// File: a line ": name" opens a section; a line "a b c d" (4 words separated
/// by spaces or tabs) is the question a : b :: c : ?, expected answer d.
/// Blank lines are ignored; other lines are malformed (counted, first line
/// number kept, not fatal). Questions before the first section header go into
/// a section named "" (gensim rejects such a file). "\r\n" line ends are fine.
///
/// The vocabulary is the first `restrict_vocab` words of `wv` (0: all),
/// case-folded (see above). A question with a word outside it is skipped and
/// counted in `skipped`. Otherwise it is answered by 3CosAdd over unit vectors:
/// the argmax over the restricted rows r of cos(v_r, b^ - a^ + c^), excluding
/// every row that folds to a, b or c; it is right if that row folds to d.
/// Like gensim, the candidates are all restricted rows, so a later case
/// variant ("Paris" after "paris") can be the answer and counts as d. Zero
/// vectors stay zero (gensim would give NaN). Scores are batched matrix
/// products, float32.
///
/// Throws DataError if the file cannot be read (see datasets::read_text_file) or
/// holds no question at all ("<path>: no analogy question ..."),
/// ConfigError if restrict_vocab < 0.
AnalogyResult evaluate_analogies(const WordVectors& wv, const std::string& questions_path,
                                 int64_t restrict_vocab = 30000);

/// Options of evaluate_similarity().
struct SimilarityOptions {
  /// 1-based column of the human score; the words are columns 1 and 2.
  /// WordSim-353 combined.csv and Rare Words rw.txt: 3 (the default);
  /// SimLex-999.txt: 4 (its column 3 is the part of speech).
  int64_t score_column = 3;
  /// Only the first restrict_vocab words of `wv` are looked up (0: all), as
  /// gensim's evaluate_word_pairs(restrict_vocab=300000).
  int64_t restrict_vocab = 300000;
};

/// Result of evaluate_similarity().
struct SimilarityResult {
  /// Spearman rank correlation between the model's cosines and the human
  /// scores over the covered pairs, ties given their average rank (as
  /// scipy.stats.spearmanr). NaN if fewer than 2 pairs are covered or either
  /// side is constant.
  double spearman = 0;
  /// Pearson correlation over the same pairs (NaN likewise).
  double pearson = 0;
  /// Covered pairs (both words in the restricted vocabulary).
  int64_t pairs = 0;
  /// Well-formed pairs with a word outside the restricted vocabulary.
  int64_t oov = 0;
  /// Non-blank, non-header, non-'#' lines with too few columns, an empty word
  /// or a score that is not a number; skipped.
  int64_t malformed = 0;
  /// 1-based line number of the first malformed line, 0 if none.
  int64_t first_malformed_line = 0;
  /// Whether the first line was taken as a header and skipped.
  bool header = false;
};

/// Scores a word-pair similarity file: WordSim-353 combined.csv
/// ("Word 1,Word 2,Human (mean)" header, commas, CRLF), SimLex-999.txt (tabs,
/// header, score in column 4), Rare Words rw.txt (tabs, no header).
/// The separator is detected from the first non-blank line: a tab if it has
/// one, else a comma if it has one, else runs of spaces. That first line is a
/// header, and skipped, if its score column is not a number. Lines starting
/// with '#' and blank lines are ignored; "\r" is stripped. Words are
/// case-folded and looked up as in evaluate_analogies(); the model's score is
/// the cosine of the two vectors (0 for a zero vector).
/// Throws DataError if the file cannot be read or has no well-formed pair
/// ("<path>: no word pair with a numeric score in column 3"), ConfigError if
/// score_column < 3 or restrict_vocab < 0.
SimilarityResult evaluate_similarity(const WordVectors& wv, const std::string& pairs_path,
                                     const SimilarityOptions& options = {});

/// Spearman rank correlation of x and y (equal sizes), average ranks for ties;
/// NaN if fewer than 2 values or a side is constant. Throws
/// std::invalid_argument if the sizes differ.
double spearman(const std::vector<double>& x, const std::vector<double>& y);

/// Pearson correlation of x and y; NaN if fewer than 2 values or a side is
/// constant. Throws std::invalid_argument if the sizes differ.
double pearson(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace rnnlab::word2vec
