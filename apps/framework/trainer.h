// The training loop every gradient-descent app uses.
//
// An app describes its experiment as a Task (model, batches, evaluation), in
// the manner of fairseq's tasks; the Trainer owns everything else: optimizer,
// learning-rate schedule, gradient clipping, periodic validation, resume,
// Ctrl-C/SIGTERM and non-finite-loss handling. What advances training is an
// Engine: the autograd step (every gradient-descent task), or an app's own
// (word2vec's lock-free Hogwild epochs); the position, checkpoints, resume,
// signals, logging window, metrics.jsonl and summary exist once, here, for
// both. The parts it is assembled from:
//   training_state.h  the named training state every checkpoint carries
//   progress.h    log lines, progress bar, metrics.jsonl "train" records
//   validation.h  early-stop metric and direction, best value, patience, plateau
//   checkpoint.h  atomic checkpoint files, checked model loads, RNG states
//   signals.h     SIGINT/SIGTERM -> save and exit (130/143)
//   run_dir.h     metrics.jsonl, summary.json, learning-curve plot
//   experiment.h  one run or repeated runs / folds as sub-runs, resume
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "apps/framework/progress.h"
#include "apps/framework/run_dir.h"
#include "apps/framework/sections.h"
#include "apps/framework/signals.h"
#include "apps/framework/training_state.h"
#include "apps/framework/validation.h"
#include "core/error.h"

namespace rnnlab {

class Collective;

/// The result of one training batch.
struct StepOutput {
  torch::Tensor loss;  ///< scalar the gradient is taken of: mean loss over the batch's units
  int64_t units = 0;   ///< units (tokens, characters, words) of the batch, for throughput
  /// The mean loss to log, when `loss` is not one (word2vec's SGD steps on a
  /// sum over pairs); NaN: log `loss`.
  double reported_loss = NAN;
  /// What the logged loss is a mean over (sentences, target words, pairs),
  /// to weight each rank's share in data-parallel training; -1: `units`.
  int64_t loss_items = -1;
  /// `loss` is a sum over the items, not a mean (word2vec's SGD steps): the
  /// ranks' gradients add instead of being weighted by their shares.
  bool loss_is_sum = false;
  /// This update's learning rate is the schedule's times this (AWD-LSTM's
  /// variable-length BPTT scales it by the window's length over data.bptt).
  double lr_scale = 1.0;
};

/// An experiment as the trainer sees it.
/// Parameters that share a learning rate: the schedule's rate times
/// `lr_scale` (e.g. a slower rate for pretrained embeddings).
struct ParamGroup {
  std::string name;
  std::vector<torch::Tensor> params;
  double lr_scale = 1.0;
};

class Task {
 public:
  virtual ~Task() = default;
  /// The model being trained.
  virtual torch::nn::Module& model() = 0;
  /// How the optimizer groups the model's parameters. Default: one group,
  /// every parameter at the scheduled rate.
  virtual std::vector<ParamGroup> param_groups() { return {{"all", model().parameters(), 1.0}}; }
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
  /// The metrics evaluate() returns, each with its direction; the config's
  /// train.early_stop_metric must be one of them (checked before training).
  virtual std::vector<MetricInfo> metrics() const { return {{"loss", false}}; }
  /// Derived metrics of a mean training loss, e.g. {"ppl": exp(loss)}.
  virtual Metrics loss_metrics(double /*mean_loss*/) const { return {}; }
  /// What the units of StepOutput are called in throughput lines ("chars", "tokens").
  virtual std::string unit_name() const { return "units"; }
  /// What the training loss is, for the learning curve's axis and
  /// summary.json's "loss_label", e.g. "cross-entropy (nats per token)".
  virtual std::string loss_label() const { return "loss"; }
  /// Adds task-specific figures to the final summary (e.g. chars_per_sec for a
  /// subword model, whose units are tokens).
  virtual void add_summary(nlohmann::json& /*summary*/, double /*units_per_sec*/) const {}
  /// State beyond the model needed to resume exactly in the middle of an epoch
  /// (e.g. carried hidden state); load_state runs after start_epoch(epoch).
  virtual void save_state(torch::serialize::OutputArchive&) const {}
  virtual void load_state(torch::serialize::InputArchive&) {}
  /// Data-parallel training: from now on this process computes its share
  /// (rank `collective.rank()` of `collective.size()`) of every training
  /// batch; train_step's units are its share's. save_state() is then called
  /// on every rank at once (it may gather over `collective`; rank 0's
  /// archive is written) and load_state() reads the whole state on every
  /// rank, so that a checkpoint does not depend on the world size. Called
  /// once before training, only when the size is > 1; a task that cannot
  /// shard its batches keeps this default, a ConfigError.
  virtual void shard(Collective& /*collective*/) {
    throw ConfigError("this app does not train on several processes yet");
  }
};

/// The examples of `batch` (example ids, `costs[i]` the cost of `batch[i]`,
/// e.g. its tokens) that rank `rank` of `world` computes in data-parallel
/// training: dealt out costliest first (ties in batch order), each to the
/// rank with the least cost so far (ties: the lower rank), returned in
/// batch order. Every example goes to exactly one rank; a rank gets none
/// when the batch has fewer examples than ranks.
std::vector<int64_t> deal_examples(const std::vector<int64_t>& batch,
                                   const std::vector<int64_t>& costs, int64_t rank, int64_t world);

/// A Task whose training batches are lists of examples (sentences, sentence
/// pairs, images, strips): data-parallel, each rank trains on its share()
/// of every batch, dealt out by cost so that the ranks finish together.
class ExampleTask : public Task {
 public:
  void shard(Collective& collective) override;

 protected:
  /// The examples of `batch` this process trains on: all of them in one
  /// process, its deal_examples() share (by `cost(example)`) in a job.
  std::vector<int64_t> share(const std::vector<int64_t>& batch,
                             const std::function<int64_t(int64_t)>& cost) const;
  /// train_step()'s result for an empty share: nothing to learn from.
  static StepOutput no_examples();
  bool sharded() const { return world_ > 1; }
  /// Evaluation shared by the ranks: this rank's consecutive part [first,
  /// last) of `n` examples (all of them in one process). Metrics that are
  /// sums (confusion matrices, summed losses) then add up over the ranks
  /// with sum_over_ranks() to the one-process figures.
  std::pair<int64_t, int64_t> eval_part(int64_t n) const;
  /// Element-wise sums over the ranks (`values` itself in one process).
  std::vector<double> sum_over_ranks(const std::vector<double>& values) const;
  /// Every rank's `texts` in rank order (`texts` itself in one process): the
  /// parts' decoded outputs joined back into the whole split's.
  std::vector<std::string> gather_over_ranks(const std::vector<std::string>& texts) const;

 private:
  Collective* collective_ = nullptr;
  int64_t rank_ = 0, world_ = 1;
};

/// What one piece of training did, as an engine reports it.
struct EngineProgress {
  int64_t step = 0;        ///< updates done over the run, after this piece
  int64_t batch = 0;       ///< the next batch of the current epoch (steps_per_epoch(): its end)
  int64_t units = 0;       ///< units trained in this piece
  double loss_sum = 0;     ///< the piece's mean loss x units
  double seconds = 0;      ///< the piece's training time
  double lr = 0;           ///< learning rate in use
  double grad_norm = NAN;  ///< gradient norm of the update (NaN: the engine has none)
};

/// A non-finite loss or gradient: the trainer adds where the last good
/// checkpoint is.
class Diverged : public RuntimeError {
 public:
  Diverged(const std::string& what, std::string hint)
      : RuntimeError(what), hint_(std::move(hint)) {}
  const std::string& hint() const { return hint_; }

 private:
  std::string hint_;
};

/// What advances training. The Trainer owns everything around it.
class Engine {
 public:
  virtual ~Engine() = default;
  /// Updates in an epoch (the unit of TrainingState::batch).
  virtual int64_t steps_per_epoch() const = 0;
  /// Trains from `state`'s position: one update, or several up to the end
  /// of the epoch, calling `report` after each piece. When `report` returns
  /// false (a signal, the time limit) the engine stops at the next point it
  /// can continue exactly from. Throws Diverged on a non-finite loss or
  /// gradient, before the update.
  virtual void advance(const TrainingState& state,
                       const std::function<bool(const EngineProgress&)>& report) = 0;
  /// The engine's part of a checkpoint: tensors in `archive` (an optimizer's
  /// moments), the rest in `engine` (the training state's "engine" map).
  virtual void save(torch::serialize::OutputArchive& /*archive*/, YAML::Node& /*engine*/) const {}
  /// Reads save()'s parts back; DataError naming `file` if they do not fit.
  virtual void load(torch::serialize::InputArchive& /*archive*/, const YAML::Node& /*engine*/,
                    const std::filesystem::path& /*file*/) {}
  /// Figures the engine adds to the summary.
  virtual void add_summary(nlohmann::json& /*summary*/) const {}
  /// Around a validation and the best checkpoint it may write: the engine
  /// may put other weights in the model (NT-ASGD's average) and take them
  /// out again.
  virtual void begin_evaluation() {}
  virtual void end_evaluation() {}
  /// A validation's figure of the early-stopping metric (`lower_is_better`
  /// says its direction), after end_evaluation().
  virtual void validated(double /*value*/, bool /*lower_is_better*/) {}
  /// Data-parallel training over `collective` (its size > 1); false: this
  /// engine trains in one process only.
  virtual bool set_collective(Collective* /*collective*/) { return false; }
};

/// The autograd engine: per update, the scheduled learning rate, the task's
/// train_step(), backward, the global gradient norm (clipped at
/// train.clip_norm) and the optimizer's step. Data-parallel, each rank's
/// loss is weighted by its share of the batch's units and the gradients
/// are averaged over the ranks before clipping, so that every rank holds
/// the gradient of the whole batch's mean loss and takes the same step.
std::unique_ptr<Engine> make_autograd_engine(Task& task, const TrainSection& train,
                                             const OptimSection& optim);

/// Runs the training loop of a task.
class Trainer {
 public:
  /// Checks everything that can be checked before training (stop criterion,
  /// schedule, early-stop metric against task.metrics()) and builds the
  /// optimizer; writes nothing. ConfigError names the key (and the file and
  /// line it came from, when `schema` is given).
  /// `engine` (default: the autograd engine) advances training.
  Trainer(Task& task, const TrainSection& train, const OptimSection& optim, const RunSection& run,
          const ConfigSchema* schema = nullptr, std::unique_ptr<Engine> engine = nullptr);
  ~Trainer();

  /// Shown in the progress bar: which sub-run this is ("seed2 2/3").
  void set_label(std::string label) { label_ = std::move(label); }
  /// Lines describing the run (data, model), logged when training starts:
  /// after a resumed run's checkpoint was loaded, so that a checkpoint that
  /// does not fit is the only line printed.
  void set_intro(std::vector<std::string> lines) { intro_ = std::move(lines); }
  void add_intro(std::string line) { intro_.push_back(std::move(line)); }
  /// Called once a resumed run's checkpoint is loaded and checked (the
  /// experiment driver records the resumption's overrides then).
  void on_resumed(std::function<void(int64_t step)> hook) { on_resumed_ = std::move(hook); }
  /// The app's work after the final evaluation and before summary.json, the
  /// mark of a complete run, is written (a sample, test hypotheses, word
  /// vectors); it may add to the summary. A resumed run that was stopped
  /// before its summary runs it again.
  void on_finish(std::function<void(nlohmann::json& summary)> hook) {
    on_finish_ = std::move(hook);
  }

  /// Trains in `dir` from scratch, or from its last checkpoint when `resume`.
  /// Returns the summary (also written to summary.json): val_* and test_* of
  /// the best checkpoint, steps, epochs, wall time... Throws Interrupted on
  /// SIGINT/SIGTERM in any phase (after saving a checkpoint; the final
  /// evaluation and the summary are redone by --resume) and RuntimeError on a
  /// non-finite loss or gradient (the last good checkpoint is kept).
  /// A resumed run with nothing left to train (under the current config)
  /// only finishes what was left undone; one that is complete (its
  /// summary.json written) changes nothing and returns that summary.
  nlohmann::json fit(const RunDir& dir, bool resume);

  /// Learning rate at update `step` (0-based) for the configured schedule
  /// (`steps_per_epoch`: for a step schedule counted in epochs).
  static double scheduled_lr(const OptimSection& optim, int64_t step, int64_t total_steps,
                             double plateau_scale, int64_t steps_per_epoch = 1);

  /// Trains data-parallel over `collective` (size > 1): the task computes
  /// this rank's share of every batch, the engine averages the gradients,
  /// every stop is agreed (rank 0's clock, any rank's signal), rank 0's
  /// validation figures decide, and only rank 0 writes (checkpoints,
  /// metrics, plots, summary, on_finish). ConfigError if the task or the
  /// engine cannot. Call before fit().
  void set_collective(Collective* collective);

  /// The training state saved in `checkpoint` (its copy inside the file).
  static TrainingState read_state(const std::filesystem::path& checkpoint);

 private:
  struct State;
  void save_checkpoint(const std::filesystem::path& path);
  void load_checkpoint(const std::filesystem::path& path);
  bool validate(bool final);  // returns true when training should stop early
  void log_train_line();
  // Applies an engine's progress report to the state; false: stop.
  bool record(const EngineProgress& p);
  // Why training is over at the current position under the current config
  // ("done", "time limit", "early stop: ..."), or "" when updates are left.
  std::string finished_reason() const;
  // Whether a validation is due at the current position and not yet done.
  bool validation_due() const;
  // finished_reason() and the signal to stop on, the same on every rank.
  std::pair<std::string, int> agreed_stop() const;
  // Throws Interrupted for `sig` with the run's message ("during <phase>"
  // unless `phase` is ""); the checkpoint is already saved.
  [[noreturn]] void interrupted(int sig, const std::string& phase);

  Task& task_;
  const TrainSection& train_;
  const OptimSection& optim_;
  const RunSection& run_;
  const RunDir* dir_ = nullptr;
  std::string label_;
  std::vector<std::string> intro_;
  std::function<void(int64_t)> on_resumed_;
  std::function<void(nlohmann::json&)> on_finish_;
  std::unique_ptr<Engine> engine_;
  Collective* collective_ = nullptr;  // data-parallel (size > 1), or null
  bool writer_ = true;                // this process writes the run (rank 0)
  std::unique_ptr<BestTracker> tracker_;
  std::unique_ptr<Progress> progress_;
  std::unique_ptr<State> s_;
};

/// Builds the configured optimizer over `groups` (one optimizer parameter
/// group each, in order; the caller scales each group's rate).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimSection& optim,
                                                        const std::vector<ParamGroup>& groups);

}  // namespace rnnlab
