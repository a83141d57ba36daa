// A recurrent language model: embedding -> recurrent stack -> dropout -> linear
// over the vocabulary, with optional weight tying.
#pragma once

#include <torch/nn/modules/adaptive.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include "modules/recurrent.h"

namespace rnnlab {

/// Options for `LanguageModel`.
///
/// Example:
/// ```
/// LanguageModel lm(
///     LanguageModelOptions(65, RecurrentOptions(CellType::kLSTM, 0, 512).num_layers(2))
///         .embedding_dim(128).dropout(0.2));
/// ```
struct LanguageModelOptions {
  LanguageModelOptions(int64_t vocab_size, RecurrentOptions rnn)
      : vocab_size_(vocab_size), rnn_(std::move(rnn)) {}
  /// Number of token types (input and output).
  TORCH_ARG(int64_t, vocab_size);
  /// The recurrent stack; its input_size is set to embedding_dim.
  TORCH_ARG(RecurrentOptions, rnn);
  /// Size of the token embeddings. Default: 128
  TORCH_ARG(int64_t, embedding_dim) = 128;
  /// Dropout on the recurrent output (and on the embeddings, unless
  /// input_dropout is set). Default: 0
  TORCH_ARG(double, dropout) = 0.0;
  /// Dropout on the embeddings (AWD-LSTM's dropouti); negative: `dropout`. Default: -1
  TORCH_ARG(double, input_dropout) = -1.0;
  /// The two dropouts above draw one mask per sequence, shared by its T steps
  /// (locked or variational dropout, Gal and Ghahramani 2016). Default: false
  TORCH_ARG(bool, locked_dropout) = false;
  /// Drop whole words: in training, row v of the embedding table is zeroed
  /// with probability p (the others scaled by 1/(1-p)), one draw per forward
  /// pass (Gal and Ghahramani 2016; AWD-LSTM's dropoute). Default: 0
  TORCH_ARG(double, embedding_dropout) = 0.0;
  /// Share the embedding matrix with the output layer (the recurrent output is
  /// projected to embedding_dim first when the sizes differ). Default: false
  TORCH_ARG(bool, tie_weights) = false;
  /// Hidden size of the last recurrent layer, when it differs from the
  /// others' (AWD-LSTM: the embedding size, so that a tied output layer reads
  /// it without a projection); the last layer is then a stack of its own,
  /// `rnn_last`, after the dropout between layers. 0: every layer has
  /// rnn.hidden_size. Default: 0
  TORCH_ARG(int64_t, last_hidden) = 0;
  /// The output layer: the full softmax (empty) or an adaptive softmax (Grave
  /// et al. 2017) whose head holds the ids below the first cut-off and whose
  /// tail clusters the ids between the next ones (ids sorted by frequency, as
  /// rnnlab's vocabularies are). Default: {}
  TORCH_ARG(std::vector<int64_t>, adaptive_cutoffs) = {};
  /// Adaptive softmax: each tail cluster's projection is this many times
  /// smaller than the one before. Default: 4
  TORCH_ARG(double, adaptive_div_value) = 4.0;
  /// Index of the padding token (its embedding stays zero). Default: 0
  TORCH_ARG(int64_t, padding_idx) = 0;
};

/// What one forward pass computes, for the losses that look inside
/// (activation regularisation): the logits, the final state, and the last
/// layer's output before and after the output dropout.
struct LanguageModelOutput {
  torch::Tensor logits;    ///< (T, B, vocab); undefined with the adaptive softmax
  torch::Tensor features;  ///< (T, B, F') what the output layer reads
  RecurrentState state;    ///< the final state
  torch::Tensor hidden;    ///< (T, B, F) the recurrent stack's output
  torch::Tensor dropped;   ///< (T, B, F) `hidden` after the output dropout
};

/// Predicts token t+1 from tokens 0..t.
class LanguageModelImpl : public torch::nn::Cloneable<LanguageModelImpl> {
 public:
  explicit LanguageModelImpl(LanguageModelOptions options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  /// tokens: (T, B) int64. Returns logits (T, B, vocab) and the final state.
  std::tuple<torch::Tensor, RecurrentState> forward(const torch::Tensor& tokens,
                                                    RecurrentState state = {});
  /// forward() with the last layer's activations (see LanguageModelOutput).
  LanguageModelOutput run(const torch::Tensor& tokens, RecurrentState state = {});
  /// -log p(targets) of run()'s output, summed (or averaged, `mean`) over
  /// the targets other than `ignore_index`: exact for both output layers.
  torch::Tensor nll(const LanguageModelOutput& out, const torch::Tensor& targets,
                    int64_t ignore_index, bool mean);
  /// (T, B, vocab) log-probabilities of every token (forward() returns these
  /// with the adaptive softmax, where there are no logits).
  torch::Tensor log_probs(const LanguageModelOutput& out);

  LanguageModelOptions options;
  torch::nn::Embedding embedding{nullptr};
  Recurrent rnn{nullptr};
  /// Not called (the dropouts are functional, see run()); registered because
  /// every checkpoint written before 2026-12-06 names this submodule.
  torch::nn::Dropout dropout{nullptr};
  Recurrent rnn_last{nullptr};            ///< only with last_hidden: the last layer
  torch::nn::Linear projection{nullptr};  ///< only when tying needs a size change
  torch::nn::Linear decoder{nullptr};     ///< untied output layer
  torch::Tensor output_bias;              ///< tied output layer's bias
  torch::nn::AdaptiveLogSoftmaxWithLoss adaptive{nullptr};  ///< adaptive_cutoffs set
};
TORCH_MODULE(LanguageModel);

}  // namespace rnnlab
