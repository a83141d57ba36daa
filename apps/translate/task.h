// rnnlab-translate: sequence-to-sequence translation for the shared trainer.
//
// Line-aligned parallel files (data.train/valid/test + "." + data.src / data.tgt,
// Multi30k's layout) are tokenized with sentencepiece (one joint model or one
// per side, trained on the training split and saved with the run), the
// training pairs filtered by length and batched by token budget with length
// bucketing. The model is Seq2Seq (modules/seq2seq.h), trained with teacher
// forcing (optionally scheduled sampling) and label smoothing; validation
// computes loss, perplexity and BLEU/chrF of decoded output (sacreBLEU's
// definitions, apps/translate/bleu.h), and early stopping follows val BLEU.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "apps/framework/app.h"
#include "apps/framework/experiment.h"
#include "apps/framework/torch_export.h"
#include "apps/framework/trainer.h"
#include "datasets/parallel.h"
#include "datasets/tokenizer.h"
#include "modules/seq2seq.h"

namespace rnnlab::translate {

/// The config of rnnlab-translate (experiments/translation/*.yaml).
struct TranslateConfig {
  RunSection run;
  TrainSection train;
  OptimSection optim;
  struct Data {
    std::string train = "multi30k/train";  // files <train>.<src> and <train>.<tgt>
    std::string valid = "multi30k/val";
    std::string test = "multi30k/test_2016_flickr";  // "" = none
    std::string src = "en";
    std::string tgt = "de";
    bool joint_vocab = true;  // one sentencepiece model for both sides
    datasets::TokenizerOptions tokenizer;
    int64_t max_length = 100;  // training pairs with a longer side are dropped (tokens)
    double max_ratio = 0;      // and those whose length ratio exceeds this (0: no limit)
    int64_t max_tokens = 4096;
    int64_t max_sentences = 0;
    int64_t eval_batch_size = 64;
    int64_t limit_train = 0;  // use only the first N training pairs (0: all)
  } data;
  struct Model {
    int64_t embedding = 256;
    RecurrentSection encoder, decoder;
    std::string attention = "bahdanau";
    bool input_feeding = false;
    bool tie_embeddings = false;
    double dropout = 0.3;
    double label_smoothing = 0.1;
    double teacher_forcing = 1.0;      // share of gold inputs at the first update
    double teacher_forcing_end = 1.0;  // ... and at the last (linear in between)
    std::string init_from_pytorch;     // a Python state_dict file
  } model;
  struct Decode {
    int64_t beam = 5;
    int64_t valid_beam = 1;  // validation BLEU: greedy by default (fast)
    double length_penalty = 1.0;
    double max_len_a = 1.5;
    int64_t max_len_b = 10;
    int64_t max_source_len = 0;  // 0: kDefaultSourceBound x the longest training source
  } decode;

  TranslateConfig();
  void bind(ConfigSchema& s);
  /// Checks across keys before any data is read. ConfigError naming the key.
  void validate(const ConfigSchema& s) const;
  /// DecodeOptions for `beam`; sources are cut at decode.max_source_len
  /// tokens, or when that is 0 at kDefaultSourceBound times
  /// `longest_train_source` (kUnknownSourceBound when that is unknown, 0).
  DecodeOptions decode_options(int64_t beam, int64_t longest_train_source) const;
  static constexpr int64_t kDefaultSourceBound = 2, kUnknownSourceBound = 1024;
};

/// The longest training source (in tokens) a run recorded in limits.json
/// when it was created; 0 for a run that has none.
int64_t read_longest_train_source(const std::filesystem::path& run_dir);

/// Refuses an empty reference line, naming the file and its line
/// ("newstest.de:7: empty reference line"): BLEU and chrF are undefined for it
/// (sacreBLEU refuses it too). Used on the valid and test splits before
/// training, and on `score`/`eval` references before decoding.
void check_references(const std::vector<std::string>& refs, const std::string& name);

/// The tokenizers of a run: one shared, or one per side.
struct Tokenizers {
  std::shared_ptr<datasets::Tokenizer> src, tgt;
  /// Loads RUN/tokenizer (joint) or RUN/tokenizer_src and RUN/tokenizer_tgt;
  /// DataError naming the directory when they are missing.
  static Tokenizers load(const std::filesystem::path& run_dir);
  void save(const std::filesystem::path& run_dir) const;
};

/// The model's names in torch.nn (torch_export.h): a tied output layer is
/// written as `output` (a torch.nn.Linear whose weight is tgt_embedding's
/// and whose bias is `output_bias`).
TorchNaming torch_naming(const Seq2Seq& model);

/// Builds the model the config describes.
Seq2Seq build_model(const TranslateConfig& cfg, int64_t src_vocab, int64_t tgt_vocab);

/// Translates `texts` (plain source lines) in batches sorted by length. An
/// empty (or blank) line gives an empty translation without running the
/// model. A source longer than options.max_source_len tokens is cut to that
/// length, with a warning naming its line (1-based), so that one long line
/// cannot stall a whole job. With `attention`, also each sentence's attention (target x source
/// tokens, the <eos> step included).
std::vector<std::string> translate_texts(Seq2Seq& model, const Tokenizers& tok,
                                         const std::vector<std::string>& texts,
                                         const DecodeOptions& options, int64_t batch_size,
                                         torch::Device device,
                                         std::vector<Hypothesis>* hypotheses = nullptr);

class TranslateTask : public ExampleTask {
 public:
  /// Reads, tokenizes and filters the data and builds the model (before any
  /// run directory exists); the tokenizers come from `resume_dir` when resuming.
  TranslateTask(const TranslateConfig& cfg, const std::filesystem::path& resume_dir,
                torch::Device device);
  const Tokenizers& tokenizers() const { return tok_; }
  /// What model.init_from_pytorch read, for the run's log ("" without it).
  const std::string& init_note() const { return init_note_; }

  torch::nn::Module& model() override { return *model_; }
  int64_t batches_per_epoch() const override { return static_cast<int64_t>(batches_.size()); }
  void start_epoch(int64_t epoch) override;
  StepOutput train_step(int64_t index) override;
  Metrics evaluate(const std::string& split) override;
  std::vector<MetricInfo> metrics() const override;
  Metrics loss_metrics(double mean_loss) const override;
  std::string unit_name() const override { return "tokens"; }
  std::string loss_label() const override;
  void add_summary(nlohmann::json& summary, double units_per_sec) const override;

  Seq2Seq& seq2seq() { return model_; }
  /// The translations of the last evaluate("test").
  const std::vector<std::string>& test_hypotheses() const { return test_hyps_; }
  std::string describe() const;
  /// Tokens of the longest training source (after filtering).
  int64_t longest_train_source() const { return longest_src_; }

 private:
  struct Split {
    datasets::ParallelText text;
    std::vector<std::vector<int64_t>> src, tgt;  // token ids (tgt without <bos>/<eos>)
  };
  std::vector<std::vector<int64_t>> epoch_batches(int64_t epoch) const;

  const TranslateConfig& cfg_;
  torch::Device device_;
  Tokenizers tok_;
  std::string init_note_;
  Split train_, valid_, test_;
  int64_t dropped_ = 0, longest_src_ = 0;
  std::vector<std::vector<int64_t>> batches_;
  int64_t epoch_ = 0;
  Seq2Seq model_{nullptr};
  std::vector<std::string> test_hyps_;
};

/// One translation run: the task and its trainer; writes test.hyp at the end.
class TranslateJob : public Job {
 public:
  TranslateJob(const TranslateConfig& cfg, const ConfigSchema& schema,
               const std::filesystem::path& resume_dir);
  void save_assets(const RunDir& dir) override;
  nlohmann::json run(const RunDir& dir, bool resume, const std::string& label,
                     const std::function<void(int64_t)>& on_resumed) override;

 private:
  const TranslateConfig& cfg_;
  torch::Device device_;
  std::unique_ptr<TranslateTask> task_;
  std::unique_ptr<Trainer> trainer_;
};

}  // namespace rnnlab::translate
