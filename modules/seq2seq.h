// Sequence to sequence with attention (many-to-many): an encoder reads the
// source, a decoder with its own weights writes the target one token at a
// time, starting from <bos>, until <eos>.
//
//   x = E_src[src]                                 (S, B, E)   (src_vocab 0: x = src, features)
//   o, h_S = Encoder(x, src_lengths)               o: (S, B, D), D = enc hidden * directions
//   s_0 = bridge(h_S)                              per decoder layer: tanh(W_b [h_fwd; h_bwd] + b)
//                                                  (LSTM cells: c_0 = W_c [c_fwd; c_bwd] + b, no
//                                                  tanh)
//   at step t, with y_{t-1} the previous target token (<bos> first):
//     u_t = [E_tgt[y_{t-1}]; h~_{t-1}]             input feeding (h~_0 = 0); else E_tgt[y_{t-1}]
//                                                  (attention none: [E_tgt[y_{t-1}]; c] every step,
//                                                  Cho et al.)
//     h_t, s_t = Decoder(u_t, s_{t-1})             (B, H)
//     a_t = softmax_s(score(h_t, o_s))  over valid source steps s      (S, B)
//         bahdanau (additive): v . tanh(W_q h_t + W_k o_s)
//         luong_dot:           h_t . o_s            (needs H = D)
//         luong_general:       h_t . (W o_s)
//     c_t = sum_s a_t,s o_s                        (B, D)   (none: c = mean of o over valid steps)
//     h~_t = tanh(W_c [c_t; h_t])                  (B, A), the attentional state
//     logits_t = W_o dropout(h~_t) + b_o           (B, V_tgt)   (tied: W_o = E_tgt, needs A = E)
//
// This is the global-attention decoder of Luong et al. (2015), as OpenNMT-py
// builds it; "bahdanau" selects Bahdanau et al.'s additive score in it.
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
#include <vector>

#include "modules/recurrent.h"

namespace rnnlab {

/// Options for `Seq2Seq`.
///
/// Example:
/// ```
/// Seq2Seq model(Seq2SeqOptions(8000, 8000,
///                              RecurrentOptions(CellType::kGRU, 256, 256).bidirectional(true),
///                              RecurrentOptions(CellType::kGRU, 256, 512))
///                   .attention("bahdanau"));
/// ```
struct Seq2SeqOptions {
  Seq2SeqOptions(int64_t src_vocab, int64_t tgt_vocab, RecurrentOptions encoder,
                 RecurrentOptions decoder)
      : src_vocab_(src_vocab),
        tgt_vocab_(tgt_vocab),
        encoder_(std::move(encoder)),
        decoder_(std::move(decoder)) {}
  /// Source and target vocabulary sizes (id 0 is padding in both). A source
  /// vocabulary of 0 makes the source feature vectors instead of tokens:
  /// src is then (S, B, F) float, F the encoder's input_size, read without an
  /// embedding (an image read column by column, for captioning).
  TORCH_ARG(int64_t, src_vocab);
  TORCH_ARG(int64_t, tgt_vocab);
  /// The encoder stack; its input_size is the source embedding size.
  TORCH_ARG(RecurrentOptions, encoder);
  /// The decoder stack; its input_size is the target embedding size (the
  /// module adds the input-feeding or context features itself). Its type
  /// must be the encoder's.
  TORCH_ARG(RecurrentOptions, decoder);
  /// "none", "bahdanau", "luong_dot" or "luong_general". Default: "bahdanau"
  TORCH_ARG(std::string, attention) = "bahdanau";
  /// Feed h~_{t-1} into the decoder's next input (Luong et al.). Default: false
  TORCH_ARG(bool, input_feeding) = false;
  /// Share the target embedding with the output layer (Press & Wolf);
  /// needs the attentional size A equal to the target embedding size. Default: false
  TORCH_ARG(bool, tie_embeddings) = false;
  /// Size A of h~ (0: the decoder's hidden size). Default: 0
  TORCH_ARG(int64_t, attentional_size) = 0;
  /// Dropout on embeddings and h~. Default: 0.2
  TORCH_ARG(double, dropout) = 0.2;
};

/// What the encoder hands the decoder, for a batch of B sources.
struct EncoderOutput {
  torch::Tensor outputs;  ///< o: (S, B, D)
  torch::Tensor keys;     ///< o as the score needs it (W_k o or W o; o for dot), (S, B, K)
  torch::Tensor mask;     ///< (S, B) bool, true on real source tokens
  torch::Tensor summary;  ///< mean of o over valid steps (B, D) (attention "none")
  RecurrentState state;   ///< s_0, the bridged decoder state
};

/// The decoder's state between steps.
struct DecoderState {
  RecurrentState rnn;
  torch::Tensor feed;  ///< h~_{t-1} (B, A), for input feeding
};

class Seq2SeqImpl : public torch::nn::Cloneable<Seq2SeqImpl> {
 public:
  explicit Seq2SeqImpl(Seq2SeqOptions options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  /// src (S, B) int64 padded with 0 (src_vocab 0: (S, B, F) float, padded
  /// with anything); src_lengths (B) int64 in [1, S].
  EncoderOutput encode(const torch::Tensor& src, const torch::Tensor& src_lengths);

  /// The start state of decoding `enc`.
  DecoderState start(const EncoderOutput& enc) const;

  /// One decoder step: previous tokens (B) -> logits (B, V); updates `state`.
  /// When `attention` is given it receives a_t (S, B) (zeros for "none").
  torch::Tensor step(const torch::Tensor& prev, DecoderState& state, const EncoderOutput& enc,
                     torch::Tensor* attention = nullptr);

  /// Teacher forcing: tgt_in (T, B) = <bos> y_1 .. y_{T-1} (padded with 0)
  /// -> logits (T, B, V). With `sampling_ratio` > 0 each step's input is,
  /// with that probability per sentence, the model's own previous argmax
  /// instead of the gold token (scheduled sampling, Bengio et al. 2015),
  /// drawn from `generator`.
  torch::Tensor forward(const torch::Tensor& src, const torch::Tensor& src_lengths,
                        const torch::Tensor& tgt_in, double sampling_ratio = 0.0,
                        c10::optional<at::Generator> generator = c10::nullopt);

  Seq2SeqOptions options;
  torch::nn::Embedding src_embedding{nullptr}, tgt_embedding{nullptr};
  Recurrent encoder{nullptr}, decoder{nullptr};
  torch::nn::Linear bridge_h{nullptr}, bridge_c{nullptr};  ///< W_b, W_c of s_0 (c: LSTM only)
  torch::nn::Linear key_proj{nullptr};                     ///< W_k (bahdanau) or W (luong_general)
  torch::nn::Linear query_proj{nullptr};                   ///< W_q (bahdanau)
  torch::nn::Linear score_v{nullptr};                      ///< v (bahdanau)
  torch::nn::Linear combine{nullptr};                      ///< W_c of h~
  torch::nn::Linear output{nullptr};                       ///< W_o, b_o (untied)
  torch::Tensor output_bias;                               ///< b_o when tied (W_o is E_tgt's table)
  torch::nn::Dropout dropout{nullptr};

  /// Size A of h~.
  int64_t attentional_size() const;

 private:
  /// a (S, B) and c (B, D) for decoder outputs h (B, H).
  std::pair<torch::Tensor, torch::Tensor> attend(const torch::Tensor& h, const EncoderOutput& enc);
};
TORCH_MODULE(Seq2Seq);

/// Options of greedy and beam-search decoding.
struct DecodeOptions {
  /// Hypotheses kept per sentence (1: greedy). Default: 5
  int64_t beam = 5;
  /// Scores are divided by length^alpha when hypotheses are compared (0:
  /// none; 1: the mean log-probability per token). Default: 1.0
  double length_penalty = 1.0;
  /// Stop a sentence after max_len_a * source length + max_len_b tokens.
  double max_len_a = 2.0;
  int64_t max_len_b = 10;
  /// Callers that tokenize text cut a longer source to this many tokens
  /// before decoding (0: no bound); translate_batch itself decodes what it is
  /// given. Default: 0
  int64_t max_source_len = 0;
  int64_t bos_id = 2, eos_id = 3;
};

/// A translation: its tokens (without <bos> and <eos>), its log-probability
/// and its attention, one (S) row per output token (the <eos> step included).
struct Hypothesis {
  std::vector<int64_t> tokens;
  double log_prob = 0;
  std::vector<std::vector<float>> attention;
};

/// Translates a batch: src (S, B), src_lengths (B). Beam 1 is greedy. Tokens
/// other than <pad>, <unk>... may be produced; <pad> and <bos> never are.
/// Returns the best hypothesis per sentence, in batch order.
std::vector<Hypothesis> translate_batch(Seq2Seq& model, const torch::Tensor& src,
                                        const torch::Tensor& src_lengths,
                                        const DecodeOptions& options);

}  // namespace rnnlab
