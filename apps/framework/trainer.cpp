// The shared training loop (see trainer.h).
#include "apps/framework/trainer.h"

#include <spdlog/spdlog.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>

#include <fmt/format.h>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>

#include "apps/framework/checkpoint.h"

namespace fs = std::filesystem;

namespace rnnlab {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// "nan" whatever its sign bit ("-nan" reads like a different problem), "inf", "-inf".
std::string non_finite(double v) {
  return std::isnan(v) ? "nan" : fmt::format("{}", v);
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimSection& o,
                                                        const std::vector<ParamGroup>& groups) {
  std::vector<torch::optim::OptimizerParamGroup> params;
  for (const auto& g : groups) params.emplace_back(g.params);
  if (o.name == "sgd")
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
  if (o.name == "adamw")
    return std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(o.lr)
                                                             .betas({o.beta1, o.beta2})
                                                             .eps(o.eps)
                                                             .weight_decay(o.weight_decay));
  return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(o.lr)
                                                          .betas({o.beta1, o.beta2})
                                                          .eps(o.eps)
                                                          .weight_decay(o.weight_decay));
}

double Trainer::scheduled_lr(const OptimSection& o, int64_t step, int64_t total_steps,
                             double plateau_scale) {
  // Warm-up: linear from lr/warmup to lr over the first warmup_steps updates.
  if (step < o.warmup_steps) return o.lr * static_cast<double>(step + 1) / o.warmup_steps;
  int64_t after = step - o.warmup_steps;
  int64_t span = std::max<int64_t>(1, total_steps - o.warmup_steps);
  double progress = std::min(1.0, static_cast<double>(after) / span);
  if (o.schedule == "step") return o.lr * std::pow(o.decay_factor, after / o.decay_steps);
  if (o.schedule == "cosine")
    return o.min_lr + (o.lr - o.min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
  if (o.schedule == "linear") return o.lr + (o.min_lr - o.lr) * progress;
  if (o.schedule == "plateau") return o.lr * plateau_scale;
  return o.lr;
}

struct Trainer::State {
  // Position: `step` updates done; the next batch is `batch` of epoch `epoch`.
  int64_t step = 0, epoch = 0, batch = 0;
  int64_t last_eval_step = -1;
  // Time and throughput (training only, evaluation excluded).
  double train_seconds = 0;
  int64_t total_units = 0;
  // The current logging window.
  double win_loss = 0, win_seconds = 0, grad_norm = 0, lr = 0;
  int64_t win_units = 0, win_steps = 0;
  // Derived settings.
  int64_t batches_per_epoch = 0, total_steps = 0;
  Clock::time_point started;
  bool has_checkpoint = false;
};

Trainer::Trainer(Task& task, const TrainSection& train, const OptimSection& optim,
                 const RunSection& run, const ConfigSchema* schema)
    : task_(task), train_(train), optim_(optim), run_(run), s_(new State) {
  ConfigSchema empty;
  const ConfigSchema& sch = schema ? *schema : empty;
  train.validate(sch);
  optim.validate(sch, train);
  MetricInfo metric = resolve_early_stop(train, task.metrics(), schema);
  tracker_ = std::make_unique<BestTracker>(metric, train.patience, optim.plateau_patience,
                                           optim.decay_factor, optim.schedule == "plateau");
  s_->batches_per_epoch = task.batches_per_epoch();
  if (s_->batches_per_epoch <= 0) throw DataError("the training data gives no batches");
  s_->total_steps =
      train.max_steps > 0 ? train.max_steps : train.max_epochs * s_->batches_per_epoch;
  std::vector<ParamGroup> groups = task.param_groups();
  for (const auto& g : groups) lr_scales_.push_back(g.lr_scale);
  optimizer_ = make_optimizer(optim, groups);
}

Trainer::~Trainer() = default;

void Trainer::save_checkpoint(const fs::path& path) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model, optim, task;
  task_.model().save(model);
  optimizer_->save(optim);
  task_.save_state(task);
  archive.write("model", model);
  archive.write("optimizer", optim);
  archive.write("task", task);
  archive.write("position",
                torch::tensor({s_->step, s_->epoch, s_->batch, s_->last_eval_step, s_->total_units},
                              torch::kLong));
  archive.write("train_seconds", torch::tensor({s_->train_seconds}, torch::kDouble));
  // The open logging window, so that the first line after a resume averages
  // over the same updates as in a run that was never stopped.
  archive.write("window",
                torch::tensor({s_->win_loss, s_->win_seconds, static_cast<double>(s_->win_units),
                               static_cast<double>(s_->win_steps)},
                              torch::kDouble));
  archive.write("tracker", tracker_->state());
  save_rng_state(archive);
  save_archive_atomic(archive, path);
  s_->has_checkpoint = true;
}

void Trainer::load_checkpoint(const fs::path& path) {
  torch::serialize::InputArchive archive, model, optim, task;
  read_archive(archive, path);
  if (!archive.try_read("model", model))
    throw DataError("checkpoint '" + path.string() + "' has no model in it");
  load_module(task_.model(), model, path);
  torch::Tensor pos, seconds, tracker, window;
  try {
    archive.read("optimizer", optim);
    optimizer_->load(optim);
    archive.read("position", pos);
    archive.read("train_seconds", seconds);
    archive.read("tracker", tracker);
    archive.read("window", window);
    load_rng_state(archive);
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    throw DataError("checkpoint '" + path.string() +
                    "' cannot be resumed (written by another version, or for another optimizer "
                    "or model?): " +
                    msg.substr(0, msg.find('\n')));
  }
  if (pos.numel() != 5 || tracker.numel() != 5)
    throw DataError("checkpoint '" + path.string() +
                    "' cannot be resumed: it was written by another version of rnnlab");
  auto p = pos.accessor<int64_t, 1>();
  s_->step = p[0], s_->epoch = p[1], s_->batch = p[2], s_->last_eval_step = p[3];
  s_->total_units = p[4];
  s_->train_seconds = seconds.item<double>();
  auto w = window.accessor<double, 1>();
  s_->win_loss = w[0], s_->win_seconds = w[1];
  s_->win_units = static_cast<int64_t>(w[2]), s_->win_steps = static_cast<int64_t>(w[3]);
  tracker_->set_state(tracker);
  s_->has_checkpoint = true;
  // The epoch's deterministic set-up, then the task's mid-epoch state. A
  // checkpoint saved after the last epoch starts none (a run never stopped
  // does not either).
  if (train_.max_epochs > 0 && s_->epoch >= train_.max_epochs) return;
  task_.start_epoch(s_->epoch);
  if (s_->batch > 0) {
    archive.read("task", task);
    task_.load_state(task);
  }
}

void Trainer::log_train_line() {
  State& s = *s_;
  TrainRecord r;
  r.step = s.step;
  r.epoch = static_cast<double>(s.step) / s.batches_per_epoch;
  r.loss = s.win_loss / std::max<int64_t>(1, s.win_units);
  r.metrics = task_.loss_metrics(r.loss);
  r.units_per_sec = s.win_units / std::max(1e-9, s.win_seconds);
  r.lr = s.lr;
  r.grad_norm = s.grad_norm;
  r.train_seconds = s.train_seconds;
  progress_->log(r);
  s.win_loss = 0, s.win_units = 0, s.win_steps = 0, s.win_seconds = 0;
}

bool Trainer::validate(bool final) {
  State& s = *s_;
  Metrics m;
  try {
    m = task_.evaluate("valid");
  } catch (const Interrupted&) {
    // Saved at the position before this validation, which --resume redoes.
    save_checkpoint(dir_->file("checkpoint_last.pt"));
    throw;
  }
  s.last_eval_step = s.step;
  progress_->clear();
  bool stop = false;
  if (!m.empty()) {
    const std::string& name = tracker_->metric().name;
    if (!m.count(name))
      throw RuntimeError("the task declared validation metric '" + name +
                         "' but its evaluation did not return it");
    BestTracker::Verdict v = tracker_->update(s.step, m.at(name));
    log_validation(*dir_, s.step, static_cast<double>(s.step) / s.batches_per_epoch, m, v);
    // A model whose validation figures overflow has diverged: stop, keeping
    // the last good checkpoint (this state is not saved).
    for (const auto& [key, value] : m)
      if (!std::isfinite(value))
        throw RuntimeError(fmt::format(
            "validation {} is {} at update {} (the model diverged); stopped, {}; a lower "
            "optim.lr or train.clip_norm may help",
            key, non_finite(value), s.step,
            s.has_checkpoint
                ? "the last good checkpoint is '" + dir_->file("checkpoint_last.pt").string() + "'"
                : std::string("no checkpoint was written yet")));
    stop = v.stop;
    if (v.improved) save_checkpoint(dir_->file("checkpoint_best.pt"));
  }
  save_checkpoint(dir_->file("checkpoint_last.pt"));
  if (!final) dir_->plot_learning_curve();
  return stop;
}

std::string Trainer::finished_reason() const {
  const State& s = *s_;
  if (train_.max_steps > 0 && s.step >= train_.max_steps) return "done";
  if (train_.max_epochs > 0 && s.epoch >= train_.max_epochs) return "done";
  if (train_.max_minutes > 0 && s.train_seconds >= train_.max_minutes * 60) return "time limit";
  if (train_.patience > 0 && tracker_->bad_evals() >= train_.patience)
    return fmt::format("early stop: {} validations without improvement", tracker_->bad_evals());
  return "";
}

bool Trainer::validation_due() const {
  const State& s = *s_;
  if (s.step == 0 || s.last_eval_step == s.step) return false;
  // Every eval_every updates, or at the end of each epoch (the position is
  // then batch 0 of the next one).
  return train_.eval_every > 0 ? s.step % train_.eval_every == 0 : s.batch == 0;
}

void Trainer::interrupted(int sig, const std::string& phase) {
  if (progress_) progress_->clear();
  const char* name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
  const std::string during = phase.empty() ? "" : " during " + phase;
  logger()->info("{}{} at update {}; checkpoint saved", name, during, s_->step);
  throw Interrupted(fmt::format("stopped by {}{} at update {}; continue with: train --resume {}",
                                name, during, s_->step, dir_->path().string()),
                    sig);
}

nlohmann::json Trainer::fit(const RunDir& dir, bool resume) {
  dir_ = &dir;
  State& s = *s_;
  s.started = Clock::now();
  // The position after the last batch of an epoch is batch 0 of the next;
  // only an epoch that will be trained is set up.
  auto next_epoch_if_over = [&] {
    if (s.batch < s.batches_per_epoch) return;
    ++s.epoch, s.batch = 0;
    if (train_.max_epochs == 0 || s.epoch < train_.max_epochs) task_.start_epoch(s.epoch);
  };
  if (resume) {
    dir.remove_temporaries();
    fs::path last = dir.file("checkpoint_last.pt");
    fs::path from = dir.resume_checkpoint();
    if (from.empty()) {
      dir.truncate_metrics_after(-1);
      if (on_resumed_) on_resumed_(0);
      logger()->info("{} has no checkpoint (stopped before the first one): training from the start",
                     dir.path().string());
      task_.start_epoch(0);
    } else {
      load_checkpoint(from);
      next_epoch_if_over();
      const std::string over = finished_reason();
      if (!over.empty()) {
        if (auto done = dir.completed_summary()) {
          logger()->info("run {} is complete ({} updates, {}); nothing to do", dir.path().string(),
                         s.step, over);
          return *done;
        }
      }
      // Training again (or finishing): the old summary no longer describes the run.
      dir.mark_incomplete();
      dir.truncate_metrics_after(s.step);
      if (on_resumed_) on_resumed_(s.step);
      for (const auto& line : intro_) logger()->info("{}", line);
      intro_.clear();
      if (from != last)
        logger()->info("{} is missing (stopped during its first write); resuming from {}",
                       last.string(), from.string());
      if (over.empty())
        logger()->info("resumed from {} at update {} (epoch {}, batch {})", from.string(), s.step,
                       s.epoch + 1, s.batch);
      else
        logger()->info(
            "resumed from {} at update {}: training is over ({}); finishing the run (final "
            "evaluation and summary)",
            from.string(), s.step, over);
    }
  } else {
    task_.start_epoch(0);
  }
  for (const auto& line : intro_) logger()->info("{}", line);
  progress_ = std::make_unique<Progress>(dir, task_.unit_name(), run_.progress, label_);

  StopSignals signals;  // handlers restored on every way out of fit()
  StopSignals::clear();
  std::vector<torch::Tensor> params = task_.model().parameters();
  std::string stop_reason;
  auto last_good = [&]() -> std::string {
    return s.has_checkpoint
               ? "the last good checkpoint is '" + dir.file("checkpoint_last.pt").string() + "'"
               : "no checkpoint was written yet";
  };

  while (true) {
    next_epoch_if_over();
    if (validation_due()) {
      try {
        validate(false);
      } catch (const Interrupted& e) {
        interrupted(e.exit_code() - 128, "validation");
      }
    }
    stop_reason = finished_reason();
    if (!stop_reason.empty()) break;
    if (int sig = StopSignals::requested()) {
      save_checkpoint(dir.file("checkpoint_last.pt"));
      interrupted(sig, "");
    }

    // One update.
    auto t0 = Clock::now();
    s.lr = scheduled_lr(optim_, s.step, s.total_steps, tracker_->lr_scale());
    auto& groups = optimizer_->param_groups();
    for (size_t i = 0; i < groups.size(); ++i) groups[i].options().set_lr(s.lr * lr_scales_[i]);
    task_.model().train();
    optimizer_->zero_grad();
    StepOutput out = task_.train_step(s.batch);
    double loss = std::isnan(out.reported_loss) ? out.loss.item<double>() : out.reported_loss;
    if (!std::isfinite(loss))
      throw RuntimeError(fmt::format(
          "training loss is {} at update {} (epoch {}); stopped, {}; a lower optim.lr or "
          "train.clip_norm may help",
          non_finite(loss), s.step + 1, s.epoch + 1, last_good()));
    out.loss.backward();
    // The norm is computed (and checked) even without clipping: an infinite
    // limit never scales the gradients.
    double limit = train_.clip_norm > 0 ? train_.clip_norm : INFINITY;
    s.grad_norm = torch::nn::utils::clip_grad_norm_(params, limit);
    if (!std::isfinite(s.grad_norm))
      throw RuntimeError(fmt::format("gradient norm is {} at update {}; stopped, {}",
                                     non_finite(s.grad_norm), s.step + 1, last_good()));
    optimizer_->step();
    ++s.step, ++s.batch;
    double dt = seconds_since(t0);
    s.train_seconds += dt, s.win_seconds += dt;
    s.win_loss += loss * out.units, s.win_units += out.units, ++s.win_steps;
    s.total_units += out.units;

    if (s.step % train_.log_every == 0) log_train_line();
    double frac = s.total_steps > 0 ? static_cast<double>(s.step) / s.total_steps : 0;
    if (train_.max_minutes > 0) frac = std::max(frac, s.train_seconds / (train_.max_minutes * 60));
    progress_->bar(frac, s.step, s.win_units ? s.win_loss / s.win_units : loss,
                   s.win_units / std::max(1e-9, s.win_seconds), s.lr, s.train_seconds);
  }
  progress_->clear();

  // The final phase: a last validation, the best checkpoint's figures, the
  // app's own work, then summary.json. A signal here stops the run; its last
  // checkpoint is already at the final position, so --resume redoes this.
  nlohmann::json summary;
  try {
    if (s.last_eval_step != s.step) validate(true);
    StopSignals::throw_if_requested();
    // Final figures come from the best checkpoint (the last one without validation).
    fs::path best = dir.file("checkpoint_best.pt");
    if (fs::exists(best)) load_model_from(task_.model(), best);
    for (const auto& split : {"valid", "test"}) {
      std::string prefix = std::string(split) == "valid" ? "val_" : "test_";
      for (const auto& [k, v] : task_.evaluate(split)) summary[prefix + k] = v;
    }
    int64_t n_params = 0;
    for (const auto& p : params) n_params += p.numel();
    summary["best_step"] = tracker_->best_step();
    summary["best_metric"] = "val_" + tracker_->metric().name;
    summary["best_metric_higher_is_better"] = tracker_->metric().higher_is_better;
    summary["steps"] = s.step;
    summary["epochs"] = static_cast<double>(s.step) / s.batches_per_epoch;
    summary["seed"] = run_.seed;
    summary["train_seconds"] = s.train_seconds;
    summary["parameters"] = n_params;
    double units_per_sec = s.total_units / std::max(1e-9, s.train_seconds);
    summary[task_.unit_name() + "_per_sec"] = units_per_sec;
    task_.add_summary(summary, units_per_sec);
    summary["stop_reason"] = stop_reason;
    if (on_finish_) on_finish_(summary);
    StopSignals::throw_if_requested();
  } catch (const Interrupted& e) {
    interrupted(e.exit_code() - 128, "the final evaluation");
  }
  dir.plot_learning_curve();
  summary["wall_seconds"] = seconds_since(s.started);
  dir.write_summary(summary);
  std::string best_text =
      tracker_->best_step() < 0
          ? "no validation split"
          : fmt::format("best val_{} {:.4f} at update {}", tracker_->metric().name,
                        tracker_->best(), tracker_->best_step());
  logger()->info("finished ({}) after {} updates, {} of training; {}", stop_reason, s.step,
                 hms(s.train_seconds), best_text);
  return summary;
}

}  // namespace rnnlab
