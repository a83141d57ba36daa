// A recurrent sentence classifier (many-to-one): embedding -> recurrent
// encoder (custom or built-in, through the Recurrent factory) -> pooling over
// the valid steps -> dropout -> linear. The logits go to a softmax / cross
// entropy outside the module.
//
//   x = E[w_1..w_T]                       (T, B, E)   (two channels: [E_frozen; E_tuned], 2E)
//   o, h_T = RNN(x, lengths)              o: (T, B, D), D = hidden * directions
//   p = pool(o, lengths)                  (B, D)
//       last:      the final state (for a bidirectional encoder, the forward
//                  direction at the true last step and the backward one at step 1)
//       mean:      sum_{t < len} o_t / len
//       max:       max_{t < len} o_t
//       attention: a_t = softmax_t(v . tanh(W o_t + b)) over t < len;  p = sum_t a_t o_t
//       concat:    [last; max; mean]      (B, 3D)   (ULMFiT's concat pooling)
//   logits = U dropout(p) + c             (B, C)
//
// Long texts (ULMFiT's BPT3C, `chunk` > 0, unidirectional encoders): each text
// is read in chunks of `chunk` tokens counted from its end (its first chunk is
// the short one), the state carried from chunk to chunk, so that every text of
// a batch ends in the same last chunk. Only the last `grad_chunks` chunks keep
// their graph; the earlier ones run without gradient, their outputs still in
// the pooling. Memory is then bounded by chunk * grad_chunks steps, whatever
// the length, and the pooling still covers the whole text.
#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <ostream>
#include <string>

#include "modules/recurrent.h"

namespace rnnlab {

/// Options for `SentenceClassifier`.
///
/// Example:
/// ```
/// SentenceClassifier model(
///     SentenceClassifierOptions(
///         vocab, 300, 2, RecurrentOptions(CellType::kLSTM, 300, 150).bidirectional(true))
///         .pooling("max"));
/// ```
struct SentenceClassifierOptions {
  SentenceClassifierOptions(int64_t vocab_size, int64_t embedding_dim, int64_t num_classes,
                            RecurrentOptions rnn)
      : vocab_size_(vocab_size),
        embedding_dim_(embedding_dim),
        num_classes_(num_classes),
        rnn_(std::move(rnn)) {}
  /// Words in the vocabulary (row 0 is padding: its vector stays zero).
  TORCH_ARG(int64_t, vocab_size);
  /// Size E of a word vector.
  TORCH_ARG(int64_t, embedding_dim);
  /// Number of classes C.
  TORCH_ARG(int64_t, num_classes);
  /// The encoder; its input_size must be E (2E with two channels).
  TORCH_ARG(RecurrentOptions, rnn);
  /// "last", "mean", "max", "attention" or "concat" ([last; max; mean]). Default: "last"
  TORCH_ARG(std::string, pooling) = "last";
  /// Read texts longer than this in chunks of this many tokens, the state
  /// carried (BPT3C; unidirectional encoders, not with attention pooling).
  /// Default: 0 (each text at once)
  TORCH_ARG(int64_t, chunk) = 0;
  /// With `chunk`: backpropagate through the last N chunks of a batch only.
  /// Default: 0 (every chunk)
  TORCH_ARG(int64_t, grad_chunks) = 0;
  /// Dropout on the pooled vector (and on the embeddings). Default: 0.5
  TORCH_ARG(double, dropout) = 0.5;
  /// Keep the embedding fixed (word2vec vectors used as they are). Default: false
  TORCH_ARG(bool, freeze_embedding) = false;
  /// Two embedding channels, one frozen and one fine-tuned, concatenated
  /// (Kim 2014's multichannel). Default: false
  TORCH_ARG(bool, two_channels) = false;
  /// The last N ids of the vocabulary are words with fixed vectors (from a
  /// word-vector file: words that no training text has, so training could
  /// not change them anyway). They are read from the buffer `fixed_vectors`,
  /// outside the trained tables and the optimizer. Default: 0
  TORCH_ARG(int64_t, fixed_words) = 0;
};

class SentenceClassifierImpl : public torch::nn::Cloneable<SentenceClassifierImpl> {
 public:
  explicit SentenceClassifierImpl(SentenceClassifierOptions options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  /// tokens (T, B) int64, padded with 0; lengths (B) int64, each in [1, T].
  /// Returns logits (B, C). std::invalid_argument on wrong shapes or lengths.
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& lengths);

  /// Sets the word vectors: row i of `vectors` (V, E) for every word i whose
  /// `covered[i]` is true, in both channels (and the fixed words); the other
  /// rows keep their random initialisation. Row 0 (padding) stays zero.
  void load_embedding(const torch::Tensor& vectors, const std::vector<bool>& covered);

  /// The attention weights (T, B) of the last forward pass (attention pooling
  /// only; zero on padded steps), for `predict --explain`.
  const torch::Tensor& attention_weights() const { return attention_; }

  SentenceClassifierOptions options;
  torch::nn::Embedding embedding{nullptr};         ///< fine-tuned (or frozen) channel
  torch::nn::Embedding static_embedding{nullptr};  ///< frozen channel (two_channels only)
  torch::Tensor fixed_vectors;  ///< (fixed_words, E) buffer: the last ids' vectors (both channels)
  Recurrent encoder{nullptr};
  torch::nn::Linear attention_proj{nullptr};   ///< W, b (attention only)
  torch::nn::Linear attention_score{nullptr};  ///< v (attention only)
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear output{nullptr};  ///< U, c

 private:
  /// E[w] (T, B, E) for tokens (T, B): rows of `table` for the trained
  /// words, of fixed_vectors for the last fixed_words ids.
  torch::Tensor lookup(torch::nn::Embedding& table, const torch::Tensor& tokens);
  /// Embeddings -> dropout (T, B, E or 2E).
  torch::Tensor embed(const torch::Tensor& tokens);
  /// The pooled vector p (B, D or 3D) of texts read at once / chunk by chunk.
  torch::Tensor pool_whole(const torch::Tensor& tokens, const torch::Tensor& lengths);
  torch::Tensor pool_chunked(const torch::Tensor& tokens, const torch::Tensor& lengths);

  torch::Tensor attention_;
};
TORCH_MODULE(SentenceClassifier);

/// Options for `SequenceClassifier`.
///
/// Example:
/// ```
/// SequenceClassifier model(
///     SequenceClassifierOptions(RecurrentOptions(CellType::kLSTM, 28, 128), 10));
/// ```
struct SequenceClassifierOptions {
  SequenceClassifierOptions(RecurrentOptions rnn, int64_t num_classes)
      : rnn_(std::move(rnn)), num_classes_(num_classes) {}
  /// The recurrent stack; its input_size is the features F of one step.
  TORCH_ARG(RecurrentOptions, rnn);
  /// Number of classes C.
  TORCH_ARG(int64_t, num_classes);
  /// Dropout on the final state. Default: 0
  TORCH_ARG(double, dropout) = 0.0;
};

/// A classifier of sequences of feature vectors (many-to-one), such as an
/// MNIST image read row by row or pixel by pixel:
///
///   o, h_T = RNN(x)                 x: (T, B, F); h_T: (L*D, B, H)
///   p = [h_T of the last layer's directions]   (B, D*H): the forward
///       direction after step T, the backward one after step 1
///   logits = U dropout(p) + c       (B, C)
class SequenceClassifierImpl : public torch::nn::Cloneable<SequenceClassifierImpl> {
 public:
  explicit SequenceClassifierImpl(SequenceClassifierOptions options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  /// x (T, B, F) float. Returns logits (B, C). std::invalid_argument on a wrong shape.
  torch::Tensor forward(const torch::Tensor& x);

  SequenceClassifierOptions options;
  Recurrent encoder{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear output{nullptr};  ///< U, c
};
TORCH_MODULE(SequenceClassifier);

}  // namespace rnnlab
