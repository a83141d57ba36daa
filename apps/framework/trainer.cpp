// The shared training loop (see trainer.h).
#include "apps/framework/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>
#include <unistd.h>

#include <fmt/format.h>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>

namespace fs = std::filesystem;

namespace rnnlab {

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) {
  g_interrupted = true;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C kills at once
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string hms(double seconds) {
  auto s = static_cast<int64_t>(seconds);
  return fmt::format("{:02d}:{:02d}:{:02d}", s / 3600, (s / 60) % 60, s % 60);
}

// " : loss 1.2345 : bpc 1.7810 : ppl 3.4368" (loss first, then the rest by name).
std::string format_metrics(const Metrics& m) {
  std::string out;
  if (m.count("loss")) out += fmt::format(" : loss {:.4f}", m.at("loss"));
  for (const auto& [k, v] : m)
    if (k != "loss") out += fmt::format(" : {} {:.4f}", k, v);
  return out;
}

std::string compact(double v) {
  if (v >= 1e6) return fmt::format("{:.1f}M", v / 1e6);
  if (v >= 1e4) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.0f}", v);
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimSection& o,
                                                        std::vector<torch::Tensor> params) {
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
  // Validation bookkeeping.
  double best = std::nan("");
  int64_t best_step = -1, bad_evals = 0, last_eval_step = -1;
  double plateau_scale = 1.0;
  // Time and throughput (training only, evaluation excluded).
  double train_seconds = 0;
  int64_t total_units = 0;
  // The current logging window.
  double win_loss = 0, win_seconds = 0, grad_norm = 0, lr = 0;
  int64_t win_units = 0, win_steps = 0;
  // Derived settings.
  int64_t batches_per_epoch = 0, total_steps = 0;
  bool minimize = true, bar = false;
  Clock::time_point started, last_bar;
  Metrics last_val;
};

Trainer::Trainer(Task& task, const TrainSection& train, const OptimSection& optim,
                 const RunSection& run, const RunDir& dir)
    : task_(task), train_(train), optim_(optim), run_(run), dir_(dir), s_(new State) {
  if (train.max_steps == 0 && train.max_epochs == 0 && train.max_minutes == 0)
    throw ConfigError("set at least one of train.max_steps, train.max_epochs, train.max_minutes");
  s_->batches_per_epoch = task.batches_per_epoch();
  if (s_->batches_per_epoch <= 0) throw DataError("the training data gives no batches");
  s_->total_steps =
      train.max_steps > 0 ? train.max_steps : train.max_epochs * s_->batches_per_epoch;
  if ((optim.schedule == "cosine" || optim.schedule == "linear") && s_->total_steps == 0)
    throw ConfigError("key 'optim.schedule': '" + optim.schedule +
                      "' needs train.max_steps or train.max_epochs to know where it ends");
  const std::string& mode = train.early_stop_mode;
  const std::string& metric = train.early_stop_metric;
  bool larger_is_better = metric.find("acc") != std::string::npos ||
                          metric.find("bleu") != std::string::npos ||
                          metric.find("f1") != std::string::npos;
  s_->minimize = mode == "min" || (mode == "auto" && !larger_is_better);
  s_->bar = run.progress == "bar" || (run.progress == "auto" && ::isatty(STDERR_FILENO));
  optimizer_ = make_optimizer(optim, task.model().parameters());
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
  archive.write("position", torch::tensor({s_->step, s_->epoch, s_->batch, s_->best_step,
                                           s_->bad_evals, s_->last_eval_step, s_->total_units},
                                          torch::kLong));
  archive.write("scores",
                torch::tensor({s_->best, s_->plateau_scale, s_->train_seconds}, torch::kDouble));
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    archive.write("rng", gen.get_state());
  }
  fs::path tmp = path;
  tmp += ".tmp";
  archive.save_to(tmp.string());
  fs::rename(tmp, path);
}

void Trainer::load_checkpoint(const fs::path& path) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string());
  } catch (const c10::Error&) {
    throw DataError("checkpoint '" + path.string() + "' is unreadable or truncated");
  }
  torch::serialize::InputArchive model, optim, task;
  try {
    archive.read("model", model);
    task_.model().load(model);
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    throw DataError("checkpoint '" + path.string() +
                    "' does not fit this model: " + msg.substr(0, msg.find('\n')));
  }
  archive.read("optimizer", optim);
  optimizer_->load(optim);
  torch::Tensor pos, scores, rng;
  archive.read("position", pos);
  archive.read("scores", scores);
  archive.read("rng", rng);
  auto p = pos.accessor<int64_t, 1>();
  s_->step = p[0], s_->epoch = p[1], s_->batch = p[2], s_->best_step = p[3];
  s_->bad_evals = p[4], s_->last_eval_step = p[5], s_->total_units = p[6];
  auto sc = scores.accessor<double, 1>();
  s_->best = sc[0], s_->plateau_scale = sc[1], s_->train_seconds = sc[2];
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng);
  }
  // The epoch's deterministic set-up, then the task's mid-epoch state.
  task_.start_epoch(s_->epoch);
  if (s_->batch > 0) {
    archive.read("task", task);
    task_.load_state(task);
  }
}

void Trainer::log_train_line() {
  State& s = *s_;
  double loss = s.win_loss / std::max<int64_t>(1, s.win_units);
  double ups = s.win_units / std::max(1e-9, s.win_seconds);
  Metrics derived = task_.loss_metrics(loss);
  double epoch = static_cast<double>(s.step) / s.batches_per_epoch;
  if (s.bar) std::fprintf(stderr, "\r\033[K");
  logger()->info("Ep. {:.2f} : Up. {} : loss {:.4f}{} : {} {}/s : L.r. {:.2e} : gnorm {:.2f} : {}",
                 epoch, s.step, loss, format_metrics(derived), compact(ups), task_.unit_name(),
                 s.lr, s.grad_norm, hms(s.train_seconds));
  nlohmann::json rec = {{"type", "train"},
                        {"step", s.step},
                        {"epoch", epoch},
                        {"loss", loss},
                        {"lr", s.lr},
                        {"grad_norm", s.grad_norm},
                        {"train_seconds", s.train_seconds},
                        {task_.unit_name() + "_per_sec", ups}};
  for (const auto& [k, v] : derived) rec[k] = v;
  dir_.append_metrics(rec);
  s.win_loss = 0, s.win_units = 0, s.win_steps = 0, s.win_seconds = 0;
}

bool Trainer::validate(bool final) {
  State& s = *s_;
  s.last_eval_step = s.step;
  Metrics m = task_.evaluate("valid");
  if (s.bar) std::fprintf(stderr, "\r\033[K");
  bool stop = false;
  if (!m.empty()) {
    s.last_val = m;
    std::string key = train_.early_stop_metric;
    std::string bare = key.rfind("val_", 0) == 0 ? key.substr(4) : key;
    if (!m.count(bare)) {
      std::string avail;
      for (const auto& kv : m) avail += (avail.empty() ? "val_" : ", val_") + kv.first;
      throw ConfigError("key 'train.early_stop_metric': '" + key +
                        "' is not a validation metric of this app; available: " + avail);
    }
    double v = m.at(bare);
    bool improved = std::isnan(s.best) || (s.minimize ? v < s.best : v > s.best);
    std::string verdict;
    if (improved) {
      s.best = v, s.best_step = s.step, s.bad_evals = 0;
      verdict = "new best";
    } else {
      ++s.bad_evals;
      verdict = fmt::format("stalled {} time{}", s.bad_evals, s.bad_evals > 1 ? "s" : "");
      if (optim_.schedule == "plateau") s.plateau_scale *= optim_.decay_factor;
      stop = train_.patience > 0 && s.bad_evals >= train_.patience;
    }
    logger()->info("[valid] Ep. {:.2f} : Up. {}{} : {}",
                   static_cast<double>(s.step) / s.batches_per_epoch, s.step, format_metrics(m),
                   verdict);
    nlohmann::json rec = {{"type", "valid"},
                          {"step", s.step},
                          {"epoch", static_cast<double>(s.step) / s.batches_per_epoch},
                          {"best", improved}};
    for (const auto& [k, v2] : m) rec[k] = v2;
    dir_.append_metrics(rec);
    if (improved) save_checkpoint(dir_.file("checkpoint_best.pt"));
  }
  save_checkpoint(dir_.file("checkpoint_last.pt"));
  if (!final) dir_.plot_learning_curve();
  return stop;
}

nlohmann::json Trainer::fit(bool resume) {
  State& s = *s_;
  s.started = Clock::now();
  if (resume) {
    fs::path last = dir_.file("checkpoint_last.pt");
    if (!fs::exists(last)) throw DataError("cannot resume: '" + last.string() + "' does not exist");
    load_checkpoint(last);
    dir_.truncate_metrics_after(s.step);
    logger()->info("resumed from {} at update {} (epoch {}, batch {})", last.string(), s.step,
                   s.epoch + 1, s.batch);
  } else {
    task_.start_epoch(0);
  }

  g_interrupted = false;
  auto previous_handler = std::signal(SIGINT, on_sigint);
  std::vector<torch::Tensor> params = task_.model().parameters();
  bool stop_early = false;
  std::string stop_reason = "done";

  while (true) {
    if (s.batch >= s.batches_per_epoch) {
      // End of an epoch: set up the next one, validate if validating per epoch.
      ++s.epoch, s.batch = 0;
      bool last_epoch = train_.max_epochs > 0 && s.epoch >= train_.max_epochs;
      if (!last_epoch) task_.start_epoch(s.epoch);
      if (train_.eval_every == 0 && s.last_eval_step != s.step) stop_early = validate(false);
      if (stop_early || last_epoch) break;
    }
    if (train_.max_steps > 0 && s.step >= train_.max_steps) break;
    if (train_.max_minutes > 0 && s.train_seconds >= train_.max_minutes * 60) {
      stop_reason = "time limit";
      break;
    }
    if (g_interrupted) {
      save_checkpoint(dir_.file("checkpoint_last.pt"));
      std::signal(SIGINT, previous_handler);
      if (s.bar) std::fprintf(stderr, "\r\033[K");
      logger()->info("interrupted at update {}; checkpoint saved", s.step);
      throw Interrupted("interrupted at update " + std::to_string(s.step) +
                        "; continue with: train --resume " + dir_.path().string());
    }

    // One update.
    auto t0 = Clock::now();
    s.lr = scheduled_lr(optim_, s.step, s.total_steps, s.plateau_scale);
    for (auto& group : optimizer_->param_groups()) group.options().set_lr(s.lr);
    task_.model().train();
    optimizer_->zero_grad();
    StepOutput out = task_.train_step(s.batch);
    double loss = out.loss.item<double>();
    if (!std::isfinite(loss))
      throw RuntimeError(fmt::format(
          "training loss is {} at update {} (epoch {}); stopped, the last good checkpoint is "
          "'{}'; a lower optim.lr or train.clip_norm may help",
          loss, s.step + 1, s.epoch + 1, dir_.file("checkpoint_last.pt").string()));
    out.loss.backward();
    if (train_.clip_norm > 0)
      s.grad_norm = torch::nn::utils::clip_grad_norm_(params, train_.clip_norm);
    if (!std::isfinite(s.grad_norm))
      throw RuntimeError(
          fmt::format("gradient norm is {} at update {}; stopped, the last good checkpoint is '{}'",
                      s.grad_norm, s.step + 1, dir_.file("checkpoint_last.pt").string()));
    optimizer_->step();
    ++s.step, ++s.batch;
    double dt = seconds_since(t0);
    s.train_seconds += dt, s.win_seconds += dt;
    s.win_loss += loss * out.units, s.win_units += out.units, ++s.win_steps;
    s.total_units += out.units;

    if (s.step % train_.log_every == 0) log_train_line();
    if (s.bar && seconds_since(s.last_bar) > 0.1) {
      s.last_bar = Clock::now();
      double frac = s.total_steps > 0 ? static_cast<double>(s.step) / s.total_steps : 0;
      if (train_.max_minutes > 0)
        frac = std::max(frac, s.train_seconds / (train_.max_minutes * 60));
      int filled = static_cast<int>(std::min(1.0, frac) * 24);
      double eta = frac > 0 ? s.train_seconds * (1 - frac) / frac : 0;
      double ups = s.win_units / std::max(1e-9, s.win_seconds);
      std::fprintf(stderr,
                   "\r\033[K[%s%s] %3.0f%% Up. %ld : loss %.4f : %s %s/s : L.r. %.1e : ETA %s",
                   std::string(filled, '#').c_str(), std::string(24 - filled, '.').c_str(),
                   100 * std::min(1.0, frac), static_cast<long>(s.step),
                   s.win_units ? s.win_loss / s.win_units : loss, compact(ups).c_str(),
                   task_.unit_name().c_str(), s.lr, hms(eta).c_str());
    }
    if (train_.eval_every > 0 && s.step % train_.eval_every == 0) {
      stop_early = validate(false);
      if (stop_early) break;
    }
  }
  std::signal(SIGINT, previous_handler);
  if (s.bar) std::fprintf(stderr, "\r\033[K");
  if (stop_early)
    stop_reason = fmt::format("early stop: {} validations without improvement", s.bad_evals);
  if (s.last_eval_step != s.step) validate(true);

  // Final figures come from the best checkpoint (the last one without validation).
  fs::path best = dir_.file("checkpoint_best.pt");
  if (fs::exists(best)) {
    torch::serialize::InputArchive archive, model;
    archive.load_from(best.string());
    archive.read("model", model);
    task_.model().load(model);
  }
  nlohmann::json summary;
  for (const auto& split : {"valid", "test"}) {
    std::string prefix = std::string(split) == "valid" ? "val_" : "test_";
    for (const auto& [k, v] : task_.evaluate(split)) summary[prefix + k] = v;
  }
  int64_t n_params = 0;
  for (const auto& p : params) n_params += p.numel();
  summary["best_step"] = s.best_step;
  summary["steps"] = s.step;
  summary["epochs"] = static_cast<double>(s.step) / s.batches_per_epoch;
  summary["train_seconds"] = s.train_seconds;
  summary["wall_seconds"] = seconds_since(s.started);
  summary["parameters"] = n_params;
  double units_per_sec = s.total_units / std::max(1e-9, s.train_seconds);
  summary[task_.unit_name() + "_per_sec"] = units_per_sec;
  task_.add_summary(summary, units_per_sec);
  summary["stop_reason"] = stop_reason;
  dir_.write_summary(summary);
  dir_.plot_learning_curve();
  logger()->info("finished ({}) after {} updates, {} of training; best {} {:.4f} at update {}",
                 stop_reason, s.step, hms(s.train_seconds), train_.early_stop_metric, s.best,
                 s.best_step);
  return summary;
}

}  // namespace rnnlab
