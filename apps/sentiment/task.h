// rnnlab-sentiment: sentence classification (many-to-one) for the shared
// trainer.
//
// The data are one file per class (MR) or a table of text and label (SST-2,
// any TSV/CSV). They are split by k-fold cross-validation (each fold one
// sub-run, "data.fold=k"), by one seeded random split, or by given dev and
// test files. Texts are cleaned (Kim 2014) and tokenized with a vocabulary of
// the training part only, then padded into batches with their true lengths.
// The model is SentenceClassifier (modules/classifier.h), optionally with
// word2vec vectors in its embedding; training stops early on dev accuracy.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "apps/framework/app.h"
#include "apps/framework/experiment.h"
#include "apps/framework/torch_export.h"
#include "apps/framework/trainer.h"
#include "datasets/labeled_text.h"
#include "datasets/tokenizer.h"
#include "datasets/word_vectors.h"
#include "modules/classifier.h"

namespace rnnlab::lm {
struct LmStart;
}  // namespace rnnlab::lm

namespace rnnlab::sentiment {

/// The config of rnnlab-sentiment (experiments/sentiment/*.yaml).
struct SentimentConfig {
  RunSection run;
  TrainSection train;
  OptimSection optim;
  struct Data {
    std::vector<std::string> class_files;       // "label=path", one file per class (MR)
    std::string train;                          // or a table of text and label
    std::string dev;                            // "" = a share of the training data
    std::string test;                           // "" = a share of the training data (or none)
    std::vector<std::string> test_class_files;  // or one test file per class (IMDb)
    std::string delimiter = "tab";              // tab | comma
    bool header = true;
    bool quoting = false;
    std::string text_column = "sentence";
    std::string label_column = "label";
    int64_t folds = 0;  // k-fold cross-validation (0: one split)
    int64_t fold = 0;   // with folds: which fold is the test part (1..k; 0: all, as sub-runs)
    double dev_fraction = 0.1;
    double test_fraction = 0.1;
    int64_t split_seed = 1;
    std::string clean = "kim";  // kim | none
    int64_t max_length = 0;     // 0: no truncation
    datasets::TokenizerOptions tokenizer;
    int64_t batch_size = 50;
    bool bucket = true;  // batch sentences of similar length
    int64_t eval_batch_size = 256;
  } data;
  struct Model {
    int64_t embedding_dim = 300;
    std::string vectors;                  // word2vec file ("" = random embeddings)
    std::string vectors_format = "auto";  // auto (by the name) | text | binary
    std::string embedding_mode = "tune";  // tune | freeze | two_channels
    int64_t vectors_extend = 0;  // add up to N words of the vectors file the training part lacks
    double embedding_lr_scale = 1.0;  // the embedding's learning rate, relative to optim.lr
    double discriminative_lr = 1.0;   // ULMFiT: each layer down learns this many times slower
    int64_t unfreeze_every = 0;       // ULMFiT's gradual unfreezing: epochs per stage (0: off)
    std::string init_from_pytorch;    // a Python state_dict file
    std::string init_from;            // an rnnlab-lm run: tokenizer, embedding, encoder
    struct LmFinetune {
      int64_t epochs = 0;            // ULMFiT: first fine-tune init_from on the training part
      std::vector<std::string> set;  // overrides of that LM's config for it
    } lm_finetune;
    std::string pooling = "max";
    int64_t chunk = 0;        // BPT3C: read long texts in chunks of N tokens (0: at once)
    int64_t grad_chunks = 0;  // BPT3C: backpropagate through the last N chunks (0: all)
    double dropout = 0.5;
    RecurrentSection rnn;
  } model;

  SentimentConfig();
  void bind(ConfigSchema& s);
  /// Checks across keys, before any data is read. ConfigError naming the key.
  void validate(const ConfigSchema& s) const;
  /// The table layout data.* describes.
  datasets::TableOptions table_options() const;
};

/// The sub-runs the config asks for: every fold (fold01..foldK, "data.fold=k")
/// when data.folds > 0 and data.fold = 0, each repeated with run.repeats
/// seeds (fold01-seed2...); else the seeds of run.repeats (or none).
std::vector<SubRun> sentiment_subruns(const SentimentConfig& cfg);

/// The three parts of the data, as the config splits them.
struct SentimentData {
  datasets::LabeledTexts train, dev, test;
  std::string description;  ///< "MR (2 files), fold 3/10" ...
};

/// Reads and splits the data (every file error is a one-line DataError).
SentimentData load_data(const SentimentConfig& cfg);

/// A text as the model reads it: cleaned as the config says, tokenized,
/// truncated to data.max_length. A text with no token (symbols only, or
/// blank) gives one <unk>, so every text can be classified.
std::vector<int64_t> encode_text(const SentimentConfig& cfg, const datasets::Tokenizer& tokenizer,
                                 const std::string& text);

/// The classifier's names in torch.nn (torch_export.h): with fixed words
/// (model.vectors_extend), each embedding is written whole, its trained rows
/// then the fixed vectors, as one torch.nn.Embedding.
TorchNaming torch_naming(const SentenceClassifier& model);

/// Builds the model the config describes; the last `fixed_words` ids are the
/// words model.vectors_extend added (datasets::extension_size of the tokenizer).
SentenceClassifier build_model(const SentimentConfig& cfg, int64_t vocab_size, int64_t classes,
                               int64_t fixed_words = 0);

/// Copies the vectors `wv` (read from `path`) of the vocabulary's words into
/// the model's embedding (a word missing as written is looked up lower-cased,
/// then without the quotes around it: 'comedian'). Returns the number of
/// vocabulary words covered. DataError naming the file for a dimension other
/// than the model's.
int64_t load_vectors(SentenceClassifier& model, const datasets::Tokenizer& tokenizer,
                     const datasets::WordVectors& wv, const std::string& path);

/// Scores of a classification: accuracy and macro-F1 in percent, the
/// confusion matrix (rows: true class, columns: predicted).
struct Scores {
  double accuracy = 0, macro_f1 = 0;
  std::vector<std::vector<int64_t>> confusion;
  int64_t correct = 0, total = 0;
};
Scores score(const std::vector<int64_t>& gold, const std::vector<int64_t>& predicted,
             int64_t classes);
/// The scores of a confusion matrix (rows: gold class, columns: predicted).
Scores score_confusion(std::vector<std::vector<int64_t>> confusion);

/// Class probabilities of encoded texts, batched: (N, C). With `attention`,
/// also each text's attention weights (attention pooling only).
torch::Tensor classify(SentenceClassifier& model, const std::vector<std::vector<int64_t>>& ids,
                       int64_t batch_size, torch::Device device,
                       std::vector<std::vector<float>>* attention = nullptr);

class SentimentTask : public ExampleTask {
 public:
  /// Reads, splits and encodes the data and builds the model (before any run
  /// directory exists). The tokenizer is built from the training part, or
  /// loaded from `tokenizer_dir` when resuming; so are the vectors.
  SentimentTask(const SentimentConfig& cfg, const std::string& tokenizer_dir, torch::Device device);
  ~SentimentTask() override;
  void save_tokenizer(const std::filesystem::path& dir) const;

  torch::nn::Module& model() override { return *model_; }
  /// The tuned embedding at model.embedding_lr_scale times the rate, the rest at the rate.
  std::vector<ParamGroup> param_groups() override;
  int64_t batches_per_epoch() const override;
  void start_epoch(int64_t epoch) override;
  StepOutput train_step(int64_t index) override;
  Metrics evaluate(const std::string& split) override;
  std::vector<MetricInfo> metrics() const override;
  std::string unit_name() const override { return "sentences"; }
  std::string loss_label() const override { return "cross-entropy (nats per text)"; }
  void add_summary(nlohmann::json& summary, double units_per_sec) const override;

  const SentimentData& data() const { return data_; }
  const datasets::Tokenizer& tokenizer() const { return *tokenizer_; }
  /// Vocabulary words (specials excluded) that the vectors file covered (-1: no file).
  int64_t covered() const { return covered_; }
  /// Words of the vectors file added to the vocabulary (model.vectors_extend).
  int64_t extended() const { return extended_; }
  /// What model.init_from_pytorch read, for the run's log ("" without it).
  const std::string& init_note() const { return init_note_; }
  /// model.init_from's language model (a new run only; else nullptr).
  const lm::LmStart* language_model() const { return lm_.get(); }
  /// Copies the tokenizer-compatible language model `start` (model.init_from,
  /// or its fine-tuned copy) into the embedding and encoder.
  void init_from_lm(const lm::LmStart& start);
  /// A figure of the run's other stages for summary.json (lm_val_ppl).
  void set_summary_figure(const std::string& key, double value) { figures_[key] = value; }

 private:
  const SentimentConfig& cfg_;
  torch::Device device_;
  SentimentData data_;
  std::unique_ptr<datasets::Tokenizer> tokenizer_;
  std::string init_note_;
  /// model.init_from (a new run only): the language model's run and config,
  /// opened and checked against the classifier's (open_lm, before the
  /// tokenizer: it is the LM's), then its weights copied (init_from_lm).
  std::unique_ptr<lm::LmStart> lm_;
  void open_lm(const SentimentConfig& cfg);
  /// model.unfreeze_every: what trains in gradual-unfreezing stage `stage`.
  void unfreeze(int64_t stage);
  std::vector<std::vector<int64_t>> train_ids_, dev_ids_, test_ids_;
  std::vector<int64_t> train_lengths_;
  std::vector<std::vector<int64_t>> batches_;
  std::vector<std::vector<int64_t>> epoch_batches(int64_t epoch) const;
  SentenceClassifier model_{nullptr};
  int64_t covered_ = -1;
  int64_t extended_ = 0;
  Scores last_test_;
  std::map<std::string, double> figures_;
};

/// One sentiment run: the task and its trainer.
class SentimentJob : public Job {
 public:
  SentimentJob(const SentimentConfig& cfg, const ConfigSchema& schema,
               const std::filesystem::path& resume_dir);
  ~SentimentJob() override;
  void save_assets(const RunDir& dir) override;
  nlohmann::json run(const RunDir& dir, bool resume, const std::string& label,
                     const std::function<void(int64_t)>& on_resumed) override;

 private:
  const SentimentConfig& cfg_;
  torch::Device device_;
  std::unique_ptr<SentimentTask> task_;
  std::unique_ptr<Trainer> trainer_;
  /// model.lm_finetune: the language model's config for RUN/lm, made and
  /// checked when the job is built (a run without a checkpoint yet).
  struct LmFinetune;
  std::unique_ptr<LmFinetune> finetune_;
  /// Trains RUN/lm (resumes it, or finds it finished), copies its best
  /// checkpoint into the classifier and seeds the run again, so that the
  /// classifier trains alike whether the stage ran now or before.
  void finetune_lm(const RunDir& dir, const std::string& label);
};

}  // namespace rnnlab::sentiment
