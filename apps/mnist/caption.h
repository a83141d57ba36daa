// rnnlab-mnist with task: caption: one-to-many. A strip of 1 to
// strips.max_digits MNIST digits side by side (28 x 28k pixels) is captioned
// with the digits' words ("four two seven") by the sequence-to-sequence model
// of translation (modules/seq2seq.h), its source being the strip's columns:
//
//   x_s = column s of the strip (28 pixels, scaled as data.normalize says)   s = 1..28k
//   o, h = Encoder(x_1..x_28k)                (a recurrent stack, bidirectional as configured)
//   the decoder writes <bos> w_1 .. w_k <eos>, attending over the columns o_s
//
// Strips are drawn deterministically from strips.seed: training strips only
// from the training part's images, validation strips only from the
// validation images, test strips only from the 10,000 test images. Metrics:
// accuracy = exact caption match (%), word_accuracy = 100 (1 - word edit
// distance / reference words), loss = teacher-forced cross-entropy per word.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "apps/framework/trainer.h"
#include "apps/mnist/task.h"
#include "modules/seq2seq.h"

namespace rnnlab::mnist {

/// The caption vocabulary: <pad> <unk> <bos> <eos>, then "zero" .. "nine".
constexpr int64_t kFirstDigitId = 4;
std::string digit_word(int64_t digit);
/// Words of token ids (specials skipped): "four two seven".
std::string caption_text(const std::vector<int64_t>& tokens);

/// `count` strips, each 1..max_digits indices of images 0..n_images-1, drawn
/// from `seed` (the same on every machine).
std::vector<std::vector<int64_t>> draw_strips(int64_t n_images, int64_t count, int64_t max_digits,
                                              uint64_t seed);

/// Strips as encoder input: (S, B, 28) columns (S = 28 x the most digits),
/// their lengths (B) and the images laid side by side (for pictures).
struct StripBatch {
  torch::Tensor columns;  ///< (S, B, 28) float
  torch::Tensor lengths;  ///< (B) int64, 28 x digits
  torch::Tensor tgt_in;   ///< (T, B) int64: <bos> w_1 .. w_k, padded with 0
  torch::Tensor tgt_out;  ///< (T, B) int64: w_1 .. w_k <eos>, padded with 0
};
StripBatch make_strip_batch(const MnistConfig& cfg, const Digits& part,
                            const std::vector<std::vector<int64_t>>& strips,
                            const std::vector<int64_t>& which);

/// Columns (W, 1, 28) of one grey image 28 pixels high (a strip from a PNG).
torch::Tensor image_columns(const MnistConfig& cfg, const torch::Tensor& image);

/// Builds the captioning model the config describes.
Seq2Seq build_caption_model(const MnistConfig& cfg);

/// Exact match and word accuracy (%) of hypotheses against references.
struct CaptionScores {
  double exact = 0, word_accuracy = 0;
  int64_t strips = 0;
};
CaptionScores score_captions(const std::vector<std::vector<int64_t>>& hyps,
                             const std::vector<std::vector<int64_t>>& refs);

/// Decodes every strip of `part` (beam decode.beam) in batches.
std::vector<Hypothesis> caption_strips(Seq2Seq& model, const MnistConfig& cfg, const Digits& part,
                                       const std::vector<std::vector<int64_t>>& strips,
                                       torch::Device device);

/// The reference caption (token ids, no specials) of a strip.
std::vector<int64_t> strip_reference(const Digits& part, const std::vector<int64_t>& strip);

/// Writes attention_<n>.svg (and its .gp / .dat) in `dir`: the strip above,
/// each output word's attention over the strip's columns below. False if
/// gnuplot is missing.
bool plot_attention(const std::filesystem::path& dir, int n, const torch::Tensor& strip_image,
                    const Hypothesis& hyp, const std::string& reference);

class CaptionTask : public ExampleTask {
 public:
  CaptionTask(const MnistConfig& cfg, torch::Device device);

  torch::nn::Module& model() override { return *model_; }
  int64_t batches_per_epoch() const override;
  void start_epoch(int64_t epoch) override;
  StepOutput train_step(int64_t index) override;
  Metrics evaluate(const std::string& split) override;
  std::vector<MetricInfo> metrics() const override;
  std::string unit_name() const override { return "strips"; }
  std::string loss_label() const override { return "cross-entropy (nats per caption token)"; }
  void add_summary(nlohmann::json& summary, double units_per_sec) const override;

  /// Writes caption_examples.txt and the attention pictures of a few test
  /// strips into `dir`.
  void write_examples(const std::filesystem::path& dir);

  const MnistData& data() const { return data_; }

 private:
  const MnistConfig& cfg_;
  torch::Device device_;
  MnistData data_;
  std::vector<std::vector<int64_t>> train_strips_, valid_strips_, test_strips_;
  Seq2Seq model_{nullptr};
  std::vector<std::vector<int64_t>> batches_;
};

}  // namespace rnnlab::mnist
