// rnnlab-mnist: MNIST digits read as sequences (many-to-one), the classic
// long-range test of recurrent cells, for the shared trainer.
//
// An image (28 x 28 bytes) becomes a sequence as data.sequence says:
//   rows      28 steps of the 28 pixels of one row, top to bottom;
//   pixels    784 steps of one pixel, in scan-line order (sequential MNIST);
//   permuted  784 steps of one pixel, in one fixed random order drawn from
//             data.permutation_seed (permuted MNIST); the order is saved in
//             the run (permutation.json), and eval, predict and --resume use it.
// Pixels are scaled to [0, 1] (data.normalize: unit) or standardised with the
// training set's mean and deviation (standard: (x/255 - 0.1307) / 0.3081).
// Validation is the last data.val_size training images (or a seeded random
// choice of them): early stopping and the best checkpoint; the 10,000 test
// images are scored only at the end. The model is SequenceClassifier
// (modules/classifier.h): the recurrent stack every app uses, the classifier
// on its final state.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "apps/framework/app.h"
#include "apps/framework/experiment.h"
#include "apps/framework/trainer.h"
#include "datasets/idx.h"
#include "modules/classifier.h"

namespace rnnlab::mnist {

/// The config of rnnlab-mnist (experiments/mnist/*.yaml).
struct MnistConfig {
  RunSection run;
  TrainSection train;
  OptimSection optim;
  std::string task = "classify";  // classify | caption (apps/mnist/caption.h)
  struct Data {
    std::string dir = "mnist";        // the four idx files, relative to run.data_root
    std::string sequence = "rows";    // rows | pixels | permuted
    int64_t permutation_seed = 1;     // permuted: the order's own seed
    std::string validation = "last";  // last | random
    int64_t val_size = 5000;          // training images held out for validation
    int64_t split_seed = 1;           // validation random: which ones
    int64_t train_limit = 0;          // use only the first N training images (0: all)
    std::string normalize = "unit";   // unit | standard
    int64_t batch_size = 100;
    int64_t eval_batch_size = 1000;
  } data;
  /// caption: strips of 1..max_digits digits side by side (apps/mnist/caption.h).
  struct Strips {
    int64_t max_digits = 5;
    int64_t train = 60000;  // strips drawn from the training part's images
    int64_t valid = 2000;   // ... from the validation images
    int64_t test = 10000;   // ... from the test images
    int64_t seed = 1;
  } strips;
  struct Model {
    RecurrentSection rnn;  // classify: the stack; caption: the encoder
    double dropout = 0.0;
    // caption only: the decoder of modules/seq2seq.h
    RecurrentSection decoder;
    int64_t embedding_dim = 32;
    std::string attention = "bahdanau";
  } model;
  struct Decode {
    int64_t beam = 1;
  } decode;

  MnistConfig();
  void bind(ConfigSchema& s);
  /// Checks across keys, before any data is read. ConfigError naming the key.
  void validate(const ConfigSchema& s) const;
  /// Steps per sequence (28 or 784) and features per step (28 or 1).
  int64_t steps() const;
  int64_t features() const;
};

/// An MNIST image's side, in pixels.
constexpr int64_t kSide = 28;

/// Pixels (..., 28, 28) uint8 as float, scaled as data.normalize says:
/// x / 255 (unit) or (x / 255 - 0.1307) / 0.3081 (standard: the training
/// images' mean and deviation).
torch::Tensor scale_pixels(const MnistConfig& cfg, const torch::Tensor& pixels);

/// Binds data.dir, data.sequence, data.permutation_seed and data.normalize:
/// how images are read and become sequences (train and gradflow share them).
void bind_sequence_keys(ConfigSchema& s, MnistConfig::Data* data);

/// The pixel order of data.sequence permuted, drawn from `seed`: a
/// permutation of 0..783, the same on every machine and libtorch version
/// (splitmix64-driven Fisher-Yates).
std::vector<int64_t> draw_permutation(int64_t seed, int64_t n = 784);
/// Writes / reads RUN/permutation.json; reading checks it is a permutation of
/// 0..n-1 (DataError naming the file).
void save_permutation(const std::filesystem::path& file, const std::vector<int64_t>& order);
std::vector<int64_t> load_permutation(const std::filesystem::path& file, int64_t n = 784);

/// Images (N, 28, 28) uint8 as the model reads them: (T, N, F) float, scaled
/// as data.normalize says, in the order data.sequence says (`order`: the
/// permutation, for permuted only).
torch::Tensor to_sequences(const MnistConfig& cfg, const torch::Tensor& images,
                           const std::vector<int64_t>& order);

/// The images and labels of one MNIST part, read and checked.
struct Digits {
  torch::Tensor images;  ///< (N, 28, 28) uint8
  torch::Tensor labels;  ///< (N) int64
  std::string name;      ///< where they came from ("train-images-idx3-ubyte[55000:]")
  int64_t size() const { return images.size(0); }
};

/// The three parts the config describes (training, validation, test).
struct MnistData {
  Digits train, valid, test;
};
MnistData load_data(const MnistConfig& cfg);

/// Reads an idx image file and its labels (28 x 28 images, labels 0-9).
Digits read_digits(const std::string& images_path, const std::string& labels_path);

/// Builds the model the config describes.
SequenceClassifier build_model(const MnistConfig& cfg);

/// Class probabilities (N, 10) of images (N, 28, 28) uint8, in batches.
torch::Tensor classify(SequenceClassifier& model, const MnistConfig& cfg,
                       const torch::Tensor& images, const std::vector<int64_t>& order,
                       torch::Device device);

/// What a classifier's probabilities (N, 10) score against digits (N):
/// mean negative log-likelihood, accuracy (%) and the confusion matrix
/// (rows: true digit, columns: predicted).
struct DigitScores {
  double loss = 0, accuracy = 0;
  int64_t correct = 0;
  std::vector<std::vector<int64_t>> confusion;
};
DigitScores score_digits(const torch::Tensor& probs, const torch::Tensor& labels);

/// A 10 x 10 confusion matrix (rows: true digit, columns: predicted) as a
/// text table and as a picture (gnuplot SVG; false when gnuplot is missing).
std::string confusion_table(const std::vector<std::vector<int64_t>>& confusion);
bool plot_confusion(const std::vector<std::vector<int64_t>>& confusion,
                    const std::filesystem::path& svg, const std::string& title);

class MnistTask : public ExampleTask {
 public:
  /// Reads the data and builds the model (before any run directory exists);
  /// the permutation is drawn, or loaded from `resume_dir` when resuming.
  MnistTask(const MnistConfig& cfg, const std::filesystem::path& resume_dir, torch::Device device);

  torch::nn::Module& model() override { return *model_; }
  int64_t batches_per_epoch() const override;
  void start_epoch(int64_t epoch) override;
  StepOutput train_step(int64_t index) override;
  Metrics evaluate(const std::string& split) override;
  std::vector<MetricInfo> metrics() const override;
  std::string unit_name() const override { return "images"; }
  std::string loss_label() const override { return "cross-entropy (nats per image)"; }
  void add_summary(nlohmann::json& summary, double units_per_sec) const override;

  const MnistData& data() const { return data_; }
  const std::vector<int64_t>& order() const { return order_; }
  /// The test set's confusion matrix of the last evaluate("test").
  const std::vector<std::vector<int64_t>>& test_confusion() const { return test_confusion_; }

 private:
  const MnistConfig& cfg_;
  torch::Device device_;
  MnistData data_;
  std::vector<int64_t> order_;
  SequenceClassifier model_{nullptr};
  std::vector<std::vector<int64_t>> batches_;
  std::vector<std::vector<int64_t>> test_confusion_;
};

class CaptionTask;

/// One rnnlab-mnist run: the task (MnistTask, or CaptionTask for task:
/// caption) and its trainer.
class MnistJob : public Job {
 public:
  MnistJob(const MnistConfig& cfg, const ConfigSchema& schema,
           const std::filesystem::path& resume_dir);
  ~MnistJob() override;
  void save_assets(const RunDir& dir) override;
  nlohmann::json run(const RunDir& dir, bool resume, const std::string& label,
                     const std::function<void(int64_t)>& on_resumed) override;

 private:
  nlohmann::json run_caption(const RunDir& dir, bool resume, const std::string& label,
                             const std::function<void(int64_t)>& on_resumed);
  const MnistConfig& cfg_;
  torch::Device device_;
  std::unique_ptr<MnistTask> task_;
  std::unique_ptr<CaptionTask> caption_;
  std::unique_ptr<Trainer> trainer_;
};

}  // namespace rnnlab::mnist
