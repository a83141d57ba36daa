// word2vec: the skip-gram and CBOW models of Mikolov et al. 2013 ("Efficient
// Estimation of Word Representations in Vector Space"; "Distributed
// Representations of Words and Phrases and their Compositionality"), as the
// reference word2vec.c defines them, with the loss computed by the module and
// the gradients by autograd.
//
// HuffmanTree: word2vec.c's CreateBinaryTree, bit for bit (codes, points).
// NoiseDistribution: the unigram distribution raised to 0.75, for negatives.
// SkipGram, CBOW: parameters `input` (syn0, the word vectors), `output`
// (syn1neg, negative sampling) and `output_hs` (syn1, hierarchical softmax).
//
// The loss is a sum over the batch: plain SGD with learning rate alpha on it
// gives every pair word2vec.c's per-pair update (all pairs of a batch computed
// from the same parameters). Not reproduced: word2vec.c's sigmoid table and
// MAX_EXP = 6 cut-offs (exact sigmoids here), its 1e8-entry unigram table (exact
// probabilities here), its remapping of a sampled word 0 (</s>) to a uniform
// word, and the in-place update between two equal negatives of one pair.
//
// Errors: wrong shapes or dtypes of the indices, or inconsistent options, throw
// std::invalid_argument with a one-line message that names the module.
#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/common.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <ostream>
#include <vector>

namespace rnnlab {

/// The Huffman tree of hierarchical softmax, built as word2vec.c's
/// CreateBinaryTree builds it: words sorted by descending count; repeatedly the
/// two smallest of {unmerged words (taken from the end of the vocabulary),
/// merged nodes (in creation order)} are merged, a word winning a tie with a
/// node only when strictly smaller; the second-smallest child gets bit 1.
/// Inner node k (k = 0..V-2, in creation order) is row k of syn1; the root is
/// V-2. Word w's path has `code[w].size()` steps: at step d it is at inner node
/// `point[w][d]` (root first) and goes to the child on side `code[w][d]`.
///
/// Example:
/// ```
/// auto tree = HuffmanTree::build({5, 4, 3, 2, 1});  // tree.code[3] == {0, 0, 1}
/// ```
struct HuffmanTree {
  /// counts (V >= 2) in vocabulary order, non-increasing, non-negative; throws
  /// std::invalid_argument otherwise.
  static HuffmanTree build(const std::vector<int64_t>& counts);

  /// Number of words V.
  int64_t vocab_size() const { return static_cast<int64_t>(code.size()); }
  /// Longest code length L.
  int64_t max_length() const { return codes.defined() ? codes.size(1) : 0; }

  /// Per word: the bits of its path, root first (word2vec.c's vocab[w].code).
  std::vector<std::vector<int8_t>> code;
  /// Per word: the inner nodes (0..V-2) of its path, root first (vocab[w].point).
  std::vector<std::vector<int64_t>> point;
  /// (V, L) float: code[w] padded with 0.
  torch::Tensor codes;
  /// (V, L) int64: point[w] padded with 0.
  torch::Tensor points;
  /// (V) int64: code[w].size().
  torch::Tensor lengths;
};

/// The noise distribution of negative sampling: P(w) = count_w^power / Z
/// (word2vec.c's unigram table with power = 0.75, without its discretisation).
///
/// Example:
/// ```
/// NoiseDistribution noise(counts);
/// auto negatives = noise.sample({batch, 5}, generator);  // (batch, 5) int64
/// ```
class NoiseDistribution {
 public:
  /// counts in vocabulary order, non-negative, not all zero; throws
  /// std::invalid_argument otherwise.
  explicit NoiseDistribution(const std::vector<int64_t>& counts, double power = 0.75);

  /// Draws i.i.d. word indices: an int64 tensor of the given shape (CPU).
  torch::Tensor sample(torch::IntArrayRef shape,
                       c10::optional<torch::Generator> generator = c10::nullopt) const;

  /// (V) double: the probabilities.
  const torch::Tensor& probs() const { return probs_; }
  int64_t vocab_size() const { return probs_.size(0); }

 private:
  torch::Tensor probs_;
};

/// Options for `SkipGram` and `CBOW`.
///
/// Example:
/// ```
/// SkipGram model(Word2VecOptions(vocab_size, 100).negative(10));
/// ```
struct Word2VecOptions {
  Word2VecOptions(int64_t vocab_size, int64_t dim) : vocab_size_(vocab_size), dim_(dim) {}

  /// Number of words V.
  TORCH_ARG(int64_t, vocab_size);
  /// Size D of the word vectors (word2vec.c's -size).
  TORCH_ARG(int64_t, dim);
  /// Negative samples per predicted word; 0 turns negative sampling off. Default: 5
  TORCH_ARG(int64_t, negative) = 5;
  /// Hierarchical softmax over a Huffman tree (word2vec.c's -hs 1). Default: false
  TORCH_ARG(bool, hierarchical_softmax) = false;
  /// CBOW: h is the mean of the context vectors (word2vec.c's -cbow 1) when true,
  /// their sum when false. Default: true
  TORCH_ARG(bool, cbow_mean) = true;
  /// `input` starts uniform in [-init_range / dim, init_range / dim]: word2vec.c
  /// uses 0.5, gensim and fastText 1. Default: 0.5
  TORCH_ARG(double, init_range) = 0.5;
  /// Sparse gradients for input, output and output_hs, like
  /// torch::nn::EmbeddingOptions::sparse (plain SGD handles them). Default: false
  TORCH_ARG(bool, sparse) = false;
};

namespace detail {

/// What SkipGram and CBOW share: parameters, the tree, the loss given h.
template <typename Derived>
class Word2VecImplBase : public torch::nn::Cloneable<Derived> {
 public:
  /// Registers `input` (V, D), then `output` (V, D) when negative > 0 and
  /// `output_hs` (V-1, D) when hierarchical_softmax.
  void reset() override;
  /// input ~ U(-r/D, r/D) with r = init_range (word2vec.c's InitNet: 0.5);
  /// output and output_hs zero (syn1neg, syn1).
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  /// The word vectors: `input` itself (syn0), (V, D).
  const torch::Tensor& input_vectors() const { return input; }

  Word2VecOptions options;
  /// The Huffman tree (hierarchical softmax only; empty otherwise).
  HuffmanTree tree;
  torch::Tensor input, output, output_hs;

 protected:
  Word2VecImplBase(const Word2VecOptions& options_, HuffmanTree tree_);

  /// h (B, D): the hidden vector of each example; target (B) int64: the word to
  /// predict; negatives (B, K) int64 or undefined; keep (B) or undefined: which
  /// examples count. Returns the summed loss (a scalar).
  torch::Tensor loss(const torch::Tensor& h, const torch::Tensor& target,
                     const torch::Tensor& negatives, const torch::Tensor& keep) const;
  /// Checks target (B) and negatives (B, negative) (undefined when negative = 0).
  void check_targets(const torch::Tensor& target, const torch::Tensor& negatives) const;
};

}  // namespace detail

/// Skip-gram: each (center, context) pair predicts one word from another. As
/// in word2vec.c, the *context* word's syn0 row is the input and the *center*
/// word is predicted (word2vec.c loops over the context words c of a center
/// word w and trains syn0[c] against w's code or against w and its negatives),
/// so the vectors behave like word2vec.c's. Per pair, with v = input[context]:
///   negative sampling: -log s(u_w . v) - sum_k [n_k != w] log s(-u_{n_k} . v),
///                      u = output (syn1neg), n_k the negatives, w the center;
///   hierarchical soft: -sum_j log s((1 - 2 code_j) u_{point_j} . v), u = output_hs
///                      (word2vec.c: f = s(u . v), g = 1 - code - f);
/// both terms when both are on; s is the sigmoid. The loss is the sum over pairs.
///
/// Example:
/// ```
/// SkipGram model(Word2VecOptions(V, 100));
/// auto loss = model(center, context, noise.sample({B, 5}));  // scalar
/// ```
class SkipGramImpl : public detail::Word2VecImplBase<SkipGramImpl> {
 public:
  static constexpr const char* kName = "rnnlab::SkipGram";

  /// `tree` is required with hierarchical_softmax, ignored otherwise.
  explicit SkipGramImpl(const Word2VecOptions& options_, HuffmanTree tree_ = {});

  /// center (B) int64: the predicted words; context (B) int64: the input words;
  /// negatives (B, negative) int64 (undefined when negative = 0). Returns the
  /// loss summed over the B pairs (a scalar).
  torch::Tensor forward(const torch::Tensor& center, const torch::Tensor& context,
                        const torch::Tensor& negatives = {});

 protected:
  FORWARD_HAS_DEFAULT_ARGS({2, torch::nn::AnyValue(torch::Tensor())})
};
TORCH_MODULE(SkipGram);

/// Continuous bag of words: the context words of a window predict its center.
/// Per example, with c_1..c_n the valid context words:
///   h = (1/n) sum_i input[c_i]   (cbow_mean; the plain sum otherwise)
/// and the loss of SkipGram with h in place of v. Examples with no valid context
/// word are skipped (loss 0), as in word2vec.c.
/// Gradient: as word2vec.c, every context row receives dL/dh itself, also with
/// cbow_mean (word2vec.c adds neu1e to each syn0 row undivided). Autograd
/// through a mean would give dL/dh / n, so the mean is taken by a node whose
/// backward passes the gradient through unscaled: with cbow_mean the gradient
/// for `input` is n times the true gradient of the loss (exact otherwise).
///
/// Example:
/// ```
/// CBOW model(Word2VecOptions(V, 100));
/// auto loss = model(context, center, noise.sample({B, 5}));  // context (B, 2*window)
/// ```
class CBOWImpl : public detail::Word2VecImplBase<CBOWImpl> {
 public:
  static constexpr const char* kName = "rnnlab::CBOW";

  /// `tree` is required with hierarchical_softmax, ignored otherwise.
  explicit CBOWImpl(const Word2VecOptions& options_, HuffmanTree tree_ = {});

  /// context (B, W) int64: the context words, padded with -1; center (B) int64;
  /// negatives (B, negative) int64 (undefined when negative = 0). Returns the
  /// loss summed over the B examples (a scalar).
  torch::Tensor forward(const torch::Tensor& context, const torch::Tensor& center,
                        const torch::Tensor& negatives = {});

 protected:
  FORWARD_HAS_DEFAULT_ARGS({2, torch::nn::AnyValue(torch::Tensor())})
};
TORCH_MODULE(CBOW);

}  // namespace rnnlab
