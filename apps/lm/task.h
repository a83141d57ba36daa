// rnnlab-lm: the language-modelling task for the shared trainer.
//
// The corpus is read, split (by files or by fractions), tokenized (chars,
// words or sentencepiece), laid out as B parallel streams and cut into
// truncated-BPTT batches; the hidden state is carried from one batch to the
// next (detached at each boundary) and reset at the start of every epoch.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apps/framework/app.h"
#include "apps/framework/experiment.h"
#include "apps/framework/torch_export.h"
#include "apps/framework/trainer.h"
#include "datasets/tokenizer.h"
#include "modules/language_model.h"

namespace rnnlab::lm {

/// The config of rnnlab-lm (experiments/lm/*.yaml).
struct LMConfig {
  RunSection run;
  TrainSection train;
  OptimSection optim;
  struct Data {
    std::string train;  // text file, relative to run.data_root
    std::string text;   // or an inline corpus (toys, tests)
    int64_t text_repeat = 1;
    std::string valid;  // "" = a slice of the train file (valid_fraction)
    std::string test;   // "" = a slice of the train file (test_fraction)
    double valid_fraction = 0.1;
    double test_fraction = 0.0;
    datasets::TokenizerOptions tokenizer;
    int64_t batch_size = 64;
    int64_t bptt = 128;
    int64_t eval_batch_size = 16;
    std::string oov = "unk";       // unk | error: validation/test words outside the vocabulary
    bool variable_bptt = false;    // AWD-LSTM's random window lengths
    std::string bpc_per = "char";  // char | token: what bits per character divide by
  } data;
  struct Model {
    int64_t embedding = 128;
    double dropout = 0.0;
    bool tie_weights = false;
    double init_uniform = 0.0;              // > 0: every parameter from U(-a, a)
    double init_embedding = 0.0;            // > 0: the embedding table from U(-a, a)
    int64_t last_hidden = 0;                // > 0: the last layer's hidden size
    std::vector<int64_t> adaptive_cutoffs;  // non-empty: the adaptive softmax
    double adaptive_div_value = 4.0;
    double input_dropout = -1.0;  // on the embeddings; < 0: dropout
    bool locked_dropout = false;
    double embedding_dropout = 0.0;
    std::string init_from_pytorch;  // a Python state_dict file
    std::string init_from;          // an rnnlab-lm run: its tokenizer and weights (fine-tuning)
    std::string vectors;            // a word2vec file: the embedding's start
    std::string vectors_format = "auto";
    RecurrentSection rnn;
  } model;
  /// Train on T x the per-token mean (the sum over the batch's T steps of
  /// their mean over streams), the loss of Zaremba et al. and TensorFlow's
  /// PTB tutorial, whose learning rates and clipping norms assume it.
  bool loss_sum_over_bptt = false;
  /// Activation regularisation (Merity et al. 2017): alpha x mean(dropped h^2)
  /// of the last layer, and temporal AR: beta x mean((h_t - h_{t-1})^2).
  double ar_alpha = 0.0;
  double tar_beta = 0.0;
  struct Sample {
    int64_t length = 500;
    double temperature = 0.8;
    int64_t top_k = 0;
    std::string prompt;
  } sample;

  void bind(ConfigSchema& s);
  /// Checks across keys, before any data is read: exactly one of data.train
  /// and data.text, a recurrent stack that suits a language model (not
  /// bidirectional: it would see the token it predicts), the shared
  /// sections' checks. ConfigError naming the key.
  void validate(const ConfigSchema& s) const;
};

/// A token stream laid out for truncated BPTT.
///
/// The stream is <bos> followed by the text's tokens, so every token of the
/// text is predicted once. inputs and targets are (L, B): column b holds
/// stream positions [b*L, (b+1)*L) and targets are inputs shifted by one along
/// the stream. The tail of the last column is padded with <pad> in both;
/// padded targets are ignored by the loss.
struct StreamBatches {
  torch::Tensor inputs, targets;
  int64_t bptt = 0;
  int64_t tokens = 0;  ///< real (non-pad) targets
  int64_t chars = 0;   ///< characters of the text the targets cover

  /// Number of BPTT batches: ceil(L / bptt).
  int64_t size() const;
  /// Rows [i*bptt, min(L, (i+1)*bptt)) of inputs and targets.
  std::pair<torch::Tensor, torch::Tensor> get(int64_t i) const;
};

/// AWD-LSTM's variable-length BPTT for one epoch: the starts of `windows`
/// consecutive windows over `rows` rows (and `rows` at the end). Each length
/// is drawn as Merity et al. draw it, l = max(5, round(N(b, 5))) with b =
/// bptt (probability 0.95) or bptt / 2, and the lengths are then scaled
/// together to sum to `rows`, so that an epoch has the fixed number of
/// updates the trainer counts and covers the text exactly. `seed` decides.
std::vector<int64_t> variable_windows(int64_t rows, int64_t windows, int64_t bptt, uint64_t seed);

/// Lays out `ids` (the text's tokens) as described above.
StreamBatches batchify(const std::vector<int64_t>& ids, int64_t batch_size, int64_t bptt,
                       int64_t pad_id, int64_t bos_id);

/// Warns, naming `source`, when a word tokenizer's text holds the words
/// <pad>, <bos> or <eos>, which it reads as those special tokens (a literal
/// <unk>, as PTB and WikiText have, is the unknown word and says nothing).
void warn_literal_specials(const datasets::Tokenizer& tokenizer, const std::string& text,
                           const std::string& source);

/// layout_text() for a text that is scored (validation, test, `eval`), with a
/// warning naming `source` when tokens are outside the vocabulary (scored as
/// <unk>; a word corpus's literal <unk> aside) and when its streams are
/// shorter than bptt (each starts from a zero state).
/// With `oov_error`, such a token is a DataError naming source, line, column
/// and word instead (data.oov: error).
StreamBatches layout_eval_text(const datasets::Tokenizer& tokenizer, const std::string& text,
                               int64_t batch_size, int64_t bptt, const std::string& source,
                               bool oov_error = false);

/// Tokenizes `text` and lays it out with batchify(); also counts its characters
/// (for bits per character). `source` names the text in error messages.
StreamBatches layout_text(const datasets::Tokenizer& tokenizer, const std::string& text,
                          int64_t batch_size, int64_t bptt, const std::string& source);

/// Splits `text` into train/valid/test slices by fraction (valid and test are
/// the last parts, as in nanoGPT), cutting at character boundaries.
std::vector<std::string> split_by_fraction(const std::string& text, double valid_fraction,
                                           double test_fraction);

/// Builds the model the config describes.
LanguageModel build_model(const LMConfig& cfg, int64_t vocab_size);

/// The language model's names in torch.nn (torch_export.h): a tied output
/// layer is written as `decoder` (a torch.nn.Linear whose weight is the
/// embedding's and whose bias is `output_bias`).
TorchNaming torch_naming(const LanguageModel& model);

/// A trained rnnlab-lm run opened to start another model from (rnnlab-lm's
/// and rnnlab-sentiment's model.init_from): its config as trained, bound to
/// `schema`, and its best checkpoint.
struct LmStart {
  LMConfig cfg;
  ConfigSchema schema;  // bound to cfg: the struct stays where it was made
  TrainedRun run;
  std::string path;  ///< as the config names it
  /// The keys `keys` of `mine` (a config of this app or another, bound to
  /// `mine`) must have the values they have in this run: ConfigError
  /// "key 'K': A here, B in KEY's language model 'RUN'; they must match".
  /// A pair maps one of mine to the run's key of another name.
  void check_same(const ConfigSchema& mine,
                  const std::vector<std::pair<std::string, std::string>>& keys,
                  const std::string& key) const;
};
/// Opens `path` for `key` (ConfigError naming the key if it is not a trained
/// rnnlab-lm run).
std::unique_ptr<LmStart> open_lm_start(const std::string& path, const std::string& key);

/// Samples `length` tokens after `prompt` (greedy when temperature is 0) and
/// returns the prompt and their text; `on_text`, if given, receives the same
/// text as it is made (the prompt, then each token's piece), for streaming.
/// Special tokens are never drawn (nor <eos> where it prints as nothing).
/// DataError if the prompt has tokens outside the vocabulary.
std::string generate(LanguageModel& model, const datasets::Tokenizer& tokenizer,
                     const std::string& prompt, int64_t length, double temperature, int64_t top_k,
                     int64_t seed, torch::Device device,
                     const std::function<void(const std::string&)>& on_text = {});

/// Cross-entropy of a whole stream with the state carried: {loss, ppl, bpc}.
Metrics evaluate_stream(LanguageModel& model, const StreamBatches& stream, torch::Device device);
/// The summed negative log-likelihood (nats) of streams [first, first +
/// count) of `stream`, each with its hidden state carried through the text:
/// evaluate_stream's sum, or one rank's part of it.
double stream_nats(LanguageModel& model, const StreamBatches& stream, torch::Device device,
                   int64_t first, int64_t count);
/// evaluate_stream()'s metrics of a total of `nats`.
Metrics stream_metrics(const StreamBatches& stream, double nats);

class LMTask : public Task {
 public:
  /// Reads and tokenizes the data (before any run directory exists, so that a
  /// data error leaves nothing behind). The tokenizer is trained on the
  /// training split, or loaded from `tokenizer_dir` when resuming.
  LMTask(const LMConfig& cfg, const std::string& tokenizer_dir, torch::Device device);
  /// Saves the tokenizer into `dir` (the run's tokenizer/ folder).
  void save_tokenizer(const std::filesystem::path& dir) const;

  torch::nn::Module& model() override { return *model_; }
  int64_t batches_per_epoch() const override { return train_.size(); }
  void start_epoch(int64_t epoch) override;
  StepOutput train_step(int64_t index) override;
  Metrics evaluate(const std::string& split) override;
  std::vector<MetricInfo> metrics() const override;
  Metrics loss_metrics(double mean_loss) const override;
  std::string unit_name() const override;
  std::string loss_label() const override { return "cross-entropy (nats per token)"; }
  void add_summary(nlohmann::json& summary, double units_per_sec) const override;
  void save_state(torch::serialize::OutputArchive& archive) const override;
  void load_state(torch::serialize::InputArchive& archive) override;
  /// Rank r of W trains streams [r B/W, (r+1) B/W) of the B parallel streams.
  void shard(Collective& collective) override;

  LanguageModel& lm() { return model_; }
  /// Tokens of a split ("train", "valid", "test").
  int64_t tokens(const std::string& split) const {
    return split == "train" ? train_.tokens : split == "valid" ? valid_.tokens : test_.tokens;
  }
  const datasets::Tokenizer& tokenizer() const { return *tokenizer_; }
  /// What model.init_from_pytorch read, for the run's log ("" without it).
  const std::string& init_note() const { return init_note_; }

 private:
  const LMConfig& cfg_;
  torch::Device device_;
  std::unique_ptr<datasets::Tokenizer> tokenizer_;
  std::string init_note_;
  StreamBatches train_, valid_, test_;
  std::vector<int64_t> windows_;  // variable_bptt: this epoch's window starts
  double train_chars_per_token_ = 1.0;
  LanguageModel model_{nullptr};
  RecurrentState hidden_;                   // carried across training batches (this rank's streams)
  Collective* collective_ = nullptr;        // data-parallel, or null
  int64_t first_stream_ = 0, streams_ = 0;  // this rank's streams (streams_ 0: all)
};

/// One language-model run: the task, checked against the config (the sample
/// prompt against the vocabulary too), its trainer, and the sample at the end.
class LMJob : public Job {
 public:
  /// Reads the data and builds the model; `resume_dir` ("" for a new run) is
  /// where the tokenizer is loaded from when resuming.
  LMJob(const LMConfig& cfg, const ConfigSchema& schema, const std::filesystem::path& resume_dir);
  void save_assets(const RunDir& dir) override;
  nlohmann::json run(const RunDir& dir, bool resume, const std::string& label,
                     const std::function<void(int64_t)>& on_resumed) override;
  LMTask& task() { return *task_; }

 private:
  const LMConfig& cfg_;
  torch::Device device_;
  std::unique_ptr<LMTask> task_;
  std::unique_ptr<Trainer> trainer_;
};

}  // namespace rnnlab::lm
