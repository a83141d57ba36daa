// `rnnlab-word2vec train`: skip-gram and CBOW word vectors from a YAML config,
// by either of two engines over the same modules (modules/word2vec.h):
//
//   hogwild   the fast path (hogwild.h): lock-free SGD in run.threads threads,
//             updating the module's `input` and `output` tensors in place;
//   autograd  the module's forward() gives the loss of a batch of
//             data.batch_words corpus words, autograd its gradient, and the
//             shared Trainer steps plain SGD (any optimizer of optim.name).
//
// Both read the corpus as word2vec.c does (vocabulary, subsampling, dynamic
// window, learning rate decaying linearly over all epochs) and report through
// the framework's parts: progress bar and log lines (words/s, learning rate),
// metrics.jsonl, learning curve, a checkpoint at every epoch end and on
// SIGINT/SIGTERM, --resume. At the end the vectors are written in word2vec's
// text and binary formats and evaluated (analogies, WordSim-353, SimLex-999,
// Rare Words); summary.json holds the figures.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "apps/framework/experiment.h"
#include "apps/framework/trainer.h"
#include "datasets/word2vec_corpus.h"
#include "modules/word2vec.h"

namespace rnnlab::word2vec {

/// The config of `rnnlab-word2vec train` (experiments/word2vec/*.yaml).
struct W2VConfig {
  RunSection run;
  TrainSection train;              // max_epochs: word2vec.c's -iter
  OptimSection optim;              // word2vec.c: sgd, lr 0.025, linear decay to lr * 1e-4
  std::string engine = "hogwild";  // train.engine: hogwild | autograd
  struct Data {
    std::vector<std::string> corpus;  // text files, relative to run.data_root
    bool normalize = false;
    int64_t min_count = 5;
    int64_t max_vocab = 0;
    int64_t max_sentence = 1000;
    int64_t batch_words = 200;
  } data;
  struct Model {
    std::string arch = "skipgram";  // skipgram | cbow
    int64_t dim = 100;
    int64_t window = 5;
    int64_t negative = 5;
    bool hs = false;
    double sample = 1e-3;
    bool cbow_mean = true;
    double init_range = 1.0;
  } model;
  struct Eval {
    std::string analogy = "analogy/questions-words.txt";
    int64_t analogy_restrict = 30000;
    std::string wordsim353 = "wordsim353/combined.csv";
    std::string simlex999 = "simlex999/SimLex-999.txt";
    std::string rarewords = "rarewords/rw.txt";
    int64_t similarity_restrict = 300000;
  } eval;
  struct Output {
    bool text = true;
    bool binary = true;
  } output;

  /// Sets word2vec.c's defaults in the shared sections, before bind().
  W2VConfig();
  void bind(ConfigSchema& s);
  /// Checks across keys before any data is read (an engine that cannot do
  /// what the model asks, a schedule word2vec's trainer does not have...):
  /// ConfigError naming the key.
  void validate(const ConfigSchema& s) const;
};

/// The word2vec model of a config: SkipGram or CBOW (one of the two is set).
struct Word2VecModel {
  SkipGram skipgram{nullptr};
  CBOW cbow{nullptr};
  torch::nn::Module& module() {
    return skipgram ? static_cast<torch::nn::Module&>(*skipgram) : *cbow;
  }
  /// syn0 (V, D): the word vectors.
  torch::Tensor input() const { return skipgram ? skipgram->input : cbow->input; }
  /// syn1neg (V, D), undefined without negative sampling.
  torch::Tensor output() const { return skipgram ? skipgram->output : cbow->output; }
};

Word2VecModel build_model(const W2VConfig& cfg, const datasets::WordVocab& vocab);

/// The corpus files of data.corpus (resolved against run.data_root) and the
/// vocabulary built from them as the config says: the same words in the same
/// order every time, so a run's model can be rebuilt for `export`.
std::pair<std::vector<std::string>, datasets::WordVocab> corpus_vocabulary(const W2VConfig& cfg);

/// The autograd engine's task: batch i of an epoch is the sentences holding
/// about data.batch_words corpus words from the i-th on; its subsampling,
/// windows and negatives are drawn from (run.seed, epoch, i), so a resumed
/// run draws them again identically.
///   skip-gram: one (centre, context) pair per context word of every position;
///   CBOW:      one example per position, its context words padded with -1.
class W2VTask : public Task {
 public:
  W2VTask(const W2VConfig& cfg, const datasets::WordVocab& vocab,
          const datasets::EncodedCorpus& corpus, Word2VecModel& model);
  torch::nn::Module& model() override { return model_.module(); }
  int64_t batches_per_epoch() const override {
    return static_cast<int64_t>(batch_bounds_.size()) - 1;
  }
  void start_epoch(int64_t epoch) override { epoch_ = epoch; }
  StepOutput train_step(int64_t index) override;
  Metrics evaluate(const std::string& /*split*/) override { return {}; }
  std::string unit_name() const override { return "words"; }
  std::string loss_label() const override { return "-log-likelihood (nats per target)"; }
  /// Data-parallel: every rank draws the whole batch's examples and
  /// negatives (cheap), then trains on its consecutive 1/W of the examples;
  /// the ranks' summed-loss gradients add up to the one-process update.
  void shard(Collective& collective) override;

 private:
  const W2VConfig& cfg_;
  const datasets::EncodedCorpus& corpus_;
  Word2VecModel& model_;
  std::vector<float> keep_;
  NoiseDistribution noise_;
  std::vector<int64_t> batch_bounds_;  // sentence index where each batch starts
  int64_t epoch_ = 0;
  int64_t rank_ = 0, world_ = 1;
};

/// One word2vec run: the corpus read, the vocabulary built, the model and the
/// engine set up (every check done before a directory exists); run() trains,
/// writes the vectors and evaluates them.
class W2VJob : public Job {
 public:
  /// `resume_dir` is unused: a word2vec run saves nothing besides its
  /// checkpoints (the vocabulary is rebuilt from the corpus).
  W2VJob(const W2VConfig& cfg, const ConfigSchema& schema,
         const std::filesystem::path& resume_dir = {});
  nlohmann::json run(const RunDir& dir, bool resume, const std::string& label,
                     const std::function<void(int64_t)>& on_resumed) override;

  const datasets::WordVocab& vocab() const { return vocab_; }
  Word2VecModel& model() { return model_; }

 private:
  /// Writes the vectors and adds the evaluations to `summary`.
  void finish(const RunDir& dir, nlohmann::json& summary);

  const W2VConfig& cfg_;
  datasets::WordVocab vocab_;
  datasets::EncodedCorpus corpus_;
  Word2VecModel model_;
  std::unique_ptr<Task> task_;  // W2VTask (autograd) or the Hogwild engine's view
  std::unique_ptr<Trainer> trainer_;
  std::vector<std::string> intro_;
  struct EvalFile {
    std::string name, path;  // "wordsim353", resolved path
    int64_t score_column = 3;
  };
  std::string analogy_path_;
  std::vector<EvalFile> similarity_;
};

}  // namespace rnnlab::word2vec
