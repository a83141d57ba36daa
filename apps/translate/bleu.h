// BLEU and chrF exactly as sacreBLEU 2.x computes them by default, so the
// numbers rnnlab-translate reports compare with published ones. No libtorch:
// only the standard library.
//
// BLEU (sacrebleu.metrics.bleu.BLEU with its defaults): each line is
// right-stripped and tokenised with the '13a' tokeniser (mteval-v13a, meant for
// detokenised output); n-grams of orders 1..4 are counted per line, clipped by
// the maximum count of that n-gram in any reference of the line, and summed
// over the corpus together with the hypothesis length and the length of the
// reference closest in length to each hypothesis (ties: the shorter one). The
// score is BP * exp(mean_n log p_n), p_n in percent, with 'exp' smoothing for
// orders without matches (see compute_bleu).
//
// chrF (sacrebleu.metrics.chrf.CHRF with its defaults, "chrF2"): character
// n-grams of orders 1..6 with whitespace removed; per line the reference with
// the best sentence-level F-score is kept; the [hyp, ref, match] counts are
// summed over the corpus and turned into one F-beta score (beta = 2) from the
// precision and recall averaged over the orders that have both hypothesis and
// reference n-grams (see chrf_f_score).
//
// Text is UTF-8. Whitespace is Python's (str.split/str.rstrip: ASCII
// whitespace, \x1c-\x1f, U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028,
// U+2029, U+202F, U+205F, U+3000) and chrF's characters are code points, as in
// sacreBLEU. One difference: `lowercase` lowercases ASCII letters only, where
// Python's str.lower() lowercases all of Unicode.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rnnlab::translate {

/// sacreBLEU's Tokenizer13a (tokenizer_13a.py + tokenizer_re.py), equivalent to
/// mteval-v13a.pl. In order:
///   1. remove "<skipped>"; remove "-\n" (a word hyphenated over a line break);
///      "\n" -> " "; "&quot;" -> '"', "&amp;" -> '&', "&lt;" -> '<',
///      "&gt;" -> '>' (one replace-all pass each, in this order);
///   2. pad with one space on each side, then four regex substitutions, each a
///      left-to-right pass over non-overlapping matches:
///      ([{-~[-` -&(-+:-@/])  -> " \1 "     (split off most ASCII punctuation)
///      ([^0-9])([.,])        -> "\1 \2 "   (period/comma unless after a digit)
///      ([.,])([^0-9])        -> " \1 \2"   (period/comma unless before a digit)
///      ([0-9])(-)            -> "\1 \2 "   (dash after a digit);
///   3. split on whitespace and join with single spaces.
/// Example: tokenize_13a("Hello, world! It's 3.14-ish.")
///          == "Hello , world ! It's 3.14 - ish ."
/// sacreBLEU right-strips a line before this (corpus_bleu does too), which
/// matters for a trailing "-\n".
std::string tokenize_13a(std::string_view line);

/// Options of corpus_bleu; the defaults are sacreBLEU's.
struct BleuOptions {
  /// "13a" (default) or "none" (split on whitespace only).
  std::string tokenize = "13a";
  /// "exp" (default, NIST/mteval), "none", "floor" or "add-k" (see compute_bleu).
  std::string smooth_method = "exp";
  /// For "floor" (default 0.1) and "add-k" (default 1); unset: the default.
  std::optional<double> smooth_value;
  /// Lowercase hypotheses and references first (ASCII letters only).
  bool lowercase = false;
  /// Highest n-gram order (>= 1).
  int max_ngram_order = 4;
  /// Average only over the orders up to the last one with hypothesis n-grams
  /// (sentence-level BLEU); off for corpus BLEU, as in sacreBLEU.
  bool effective_order = false;
};

/// A BLEU score and its statistics (sacreBLEU's BLEUScore). Vectors have
/// max_ngram_order entries, index 0 for unigrams.
struct BleuResult {
  double score = 0.0;              ///< 0..100
  std::vector<double> precisions;  ///< p_n in percent, smoothed
  double bp = 1.0;                 ///< brevity penalty
  double ratio = 0.0;              ///< sys_len / ref_len (0 when ref_len == 0)
  int64_t sys_len = 0;             ///< hypothesis tokens in the corpus
  int64_t ref_len = 0;             ///< closest-reference tokens in the corpus
  std::vector<int64_t> counts;     ///< clipped n-gram matches per order
  std::vector<int64_t> totals;     ///< hypothesis n-grams per order

  /// sacreBLEU's line, e.g.
  /// "BLEU = 12.34 45.6/20.1/10.2/5.0 (BP = 1.000 ratio = 1.012 hyp_len = 1234 ref_len = 1220)":
  /// score %.2f, precisions %.1f joined by '/', BP and ratio %.3f.
  std::string format() const;
};

/// BLEU from summed statistics, as sacreBLEU's BLEU.compute_bleu:
///   BP = 1 if sys_len >= ref_len, exp(1 - ref_len / sys_len) if 0 < sys_len <
///        ref_len, 0 if sys_len == 0;
///   if no order has a match (all correct[n] == 0): score 0, precisions 0;
///   otherwise for n = 1..N (stopping at the first order with total[n] == 0,
///   whose precision and the later ones stay 0):
///     correct[n] > 0: p_n = 100 * correct[n] / total[n];
///     correct[n] == 0: "exp": p_n = 100 / (2^k * total[n]), k = 1, 2, ... for
///                      the 1st, 2nd, ... order without matches;
///                      "floor": p_n = 100 * smooth_value / total[n];
///                      "none": p_n = 0;
///     "add-k" first adds smooth_value to correct[n] and total[n] for n >= 2;
///   score = BP * exp(sum_{n <= E} mylog(p_n) / E) with mylog(0) =
///   -9999999999 (so any p_n == 0 gives 0) and E = N, or with effective_order
///   the last order reached in the loop.
/// correct and total need max_ngram_order entries. The result's counts and
/// totals are the given ones (sacreBLEU reports them after add-k's addition).
/// Throws std::invalid_argument for an unknown smooth_method or sizes that do
/// not match max_ngram_order.
BleuResult compute_bleu(const std::vector<int64_t>& correct, const std::vector<int64_t>& total,
                        int64_t sys_len, int64_t ref_len, const BleuOptions& options = {});

/// Corpus BLEU as sacrebleu.corpus_bleu(hyps, refs) / BLEU().corpus_score:
/// refs[k][i] is line i of reference stream k. Per line: lowercase (if asked),
/// right-strip, tokenise; references that are exactly "" are skipped (a line
/// may have fewer references); n-gram counts are clipped by the maximum count
/// over its references, its reference length is the one closest to the
/// hypothesis length (ties: the shorter); the sums go to compute_bleu.
/// Throws std::invalid_argument when there are no hypotheses or no reference
/// streams, when a stream's line count differs from the hypotheses' (the
/// message names both counts), when every reference of a line is "" (sacreBLEU:
/// "Empty or `None` reference sentence found."), or for bad options.
BleuResult corpus_bleu(const std::vector<std::string>& hyps,
                       const std::vector<std::vector<std::string>>& refs,
                       const BleuOptions& options = {});

/// Options of corpus_chrf; the defaults are sacreBLEU's CHRF (chrF2).
struct ChrfOptions {
  int char_order = 6;          ///< character n-gram orders 1..char_order
  int word_order = 0;          ///< word n-gram orders (2: chrF++)
  int beta = 2;                ///< recall weighs beta times precision
  bool lowercase = false;      ///< ASCII letters only
  bool whitespace = false;     ///< keep whitespace in character n-grams
  bool eps_smoothing = false;  ///< chrF++.py/Moses/NLTK averaging instead
};

/// A chrF score and its summed statistics. hyp_ngrams, ref_ngrams and matches
/// have char_order + word_order entries: character orders 1..char_order, then
/// word orders 1..word_order.
struct ChrfResult {
  double score = 0.0;  ///< 0..100
  int char_order = 6;
  int word_order = 0;
  int beta = 2;
  std::vector<int64_t> hyp_ngrams;  ///< hypothesis n-grams (0 where the reference has none)
  std::vector<int64_t> ref_ngrams;  ///< reference n-grams
  std::vector<int64_t> matches;     ///< min(hyp count, ref count) summed over n-grams

  /// sacreBLEU's line: "chrF2 = 56.78" ("chrF2++" for word_order 2), %.2f.
  std::string format() const;
};

/// The F-score of sacreBLEU's CHRF._compute_f_score from per-order statistics
/// stats[3*i .. 3*i+2] = [hyp, ref, match], with F = beta^2:
///   prec_i = match / hyp, rec_i = match / ref, averaged over the E orders
///   where hyp > 0 and ref > 0 (both averages 0 when E == 0);
///   score = 100 * (1 + F) * P * R / (F * P + R), or 0 when P + R == 0.
/// With eps_smoothing: 100 * mean over all orders of (1 + F) * prec * rec /
/// (F * prec + rec), where prec or rec is 1e-16 when its count is 0 and a term
/// with a zero denominator is 1e-16.
double chrf_f_score(const std::vector<int64_t>& stats, int beta, bool eps_smoothing = false);

/// Corpus chrF as sacrebleu.corpus_chrf(hyps, refs) / CHRF().corpus_score.
/// Per line and order n: the hypothesis's and reference's character n-grams
/// (code points, whitespace removed) give [hyp count, ref count, clipped
/// matches], where hyp count is 0 if the reference has no n-gram of that
/// order; with several references the line keeps the statistics of the one
/// with the highest chrf_f_score (first on ties). The summed statistics give
/// the score. Empty ("") references are skipped and the errors are those of
/// corpus_bleu.
ChrfResult corpus_chrf(const std::vector<std::string>& hyps,
                       const std::vector<std::vector<std::string>>& refs,
                       const ChrfOptions& options = {});

}  // namespace rnnlab::translate
