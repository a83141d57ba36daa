// The one training loop every app uses.
//
// An app describes its experiment as a Task (model, batches, evaluation), in
// the manner of fairseq's tasks; the Trainer owns everything else: optimizer,
// learning-rate schedule, gradient clipping, logging and progress, periodic
// validation, best/last checkpoints (atomic), early stopping, resume, Ctrl-C
// and non-finite-loss handling, metrics.jsonl, summary.json and the plot.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <map>
#include <memory>
#include <string>

#include "apps/framework/run_dir.h"
#include "apps/framework/sections.h"
#include "datasets/error.h"

namespace rnnlab {

/// Named metric values, e.g. {"loss": 1.52, "ppl": 4.57, "bpc": 2.19}.
using Metrics = std::map<std::string, double>;

/// The result of one training batch.
struct StepOutput {
  torch::Tensor loss;  ///< scalar: mean loss over the batch's units
  int64_t units = 0;   ///< units (tokens, characters, examples) the loss averages over
};

/// An experiment as the trainer sees it.
class Task {
 public:
  virtual ~Task() = default;
  /// The model being trained.
  virtual torch::nn::Module& model() = 0;
  /// Training batches per epoch.
  virtual int64_t batches_per_epoch() const = 0;
  /// Called before the first batch of every epoch (shuffling, state resets).
  /// Must be deterministic given the epoch, so that resuming repeats it.
  virtual void start_epoch(int64_t epoch) = 0;
  /// Forward pass of training batch `index` of the current epoch (train mode).
  virtual StepOutput train_step(int64_t index) = 0;
  /// Metrics of a split ("valid" or "test"), in eval mode, without gradients.
  /// A split the task does not have returns {}.
  virtual Metrics evaluate(const std::string& split) = 0;
  /// Derived metrics of a mean training loss, e.g. {"ppl": exp(loss)}.
  virtual Metrics loss_metrics(double /*mean_loss*/) const { return {}; }
  /// What the units of StepOutput are called in throughput lines ("chars", "tokens").
  virtual std::string unit_name() const { return "units"; }
  /// Adds task-specific figures to the final summary (e.g. chars_per_sec for a
  /// subword model, whose units are tokens).
  virtual void add_summary(nlohmann::json& /*summary*/, double /*units_per_sec*/) const {}
  /// State beyond the model needed to resume exactly in the middle of an epoch
  /// (e.g. carried hidden state); load_state runs after start_epoch(epoch).
  virtual void save_state(torch::serialize::OutputArchive&) const {}
  virtual void load_state(torch::serialize::InputArchive&) {}
};

/// Runs the training loop of a task.
class Trainer {
 public:
  Trainer(Task& task, const TrainSection& train, const OptimSection& optim, const RunSection& run,
          const RunDir& dir);
  ~Trainer();

  /// Trains from scratch, or from the run directory's last checkpoint when
  /// `resume` is true. Returns the summary (also written to summary.json):
  /// val_* and test_* of the best checkpoint, steps, epochs, wall time...
  /// Throws Interrupted on Ctrl-C (after saving a checkpoint) and RuntimeError
  /// on a non-finite loss (the last good checkpoint is kept).
  nlohmann::json fit(bool resume);

  /// Learning rate at update `step` (0-based) for the configured schedule.
  static double scheduled_lr(const OptimSection& optim, int64_t step, int64_t total_steps,
                             double plateau_scale);

 private:
  struct State;
  void save_checkpoint(const std::filesystem::path& path);
  void load_checkpoint(const std::filesystem::path& path);
  bool validate(bool final);  // returns true when training should stop early
  void log_train_line();

  Task& task_;
  const TrainSection& train_;
  const OptimSection& optim_;
  const RunSection& run_;
  const RunDir& dir_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<State> s_;
};

/// Thrown when SIGINT stopped a run after its checkpoint was saved (exit 130).
class Interrupted : public Error {
 public:
  explicit Interrupted(const std::string& message) : Error(message, 130) {}
};

/// Builds the configured optimizer over `params`.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimSection& optim,
                                                        std::vector<torch::Tensor> params);

}  // namespace rnnlab
