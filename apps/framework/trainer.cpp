// The shared training loop (see trainer.h).
#include "apps/framework/trainer.h"

#include <spdlog/spdlog.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>

#include <fmt/format.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <numeric>

#include "apps/framework/checkpoint.h"
#include "apps/framework/distributed.h"
#include "core/torch_error.h"
#include "datasets/seed.h"

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
                             double plateau_scale, int64_t steps_per_epoch) {
  // Warm-up: linear from lr/warmup to lr over the first warmup_steps updates.
  if (step < o.warmup_steps) return o.lr * static_cast<double>(step + 1) / o.warmup_steps;
  int64_t after = step - o.warmup_steps;
  int64_t span = std::max<int64_t>(1, total_steps - o.warmup_steps);
  double progress = std::min(1.0, static_cast<double>(after) / span);
  if (o.schedule == "step") {
    // lr x factor^n, n = 0 before the first decay (at `start`), then one more
    // every `period`: n = floor((after - start) / period) + 1.
    const int64_t unit = o.decay_epochs > 0 ? std::max<int64_t>(1, steps_per_epoch) : 1;
    const int64_t period = o.decay_epochs > 0 ? o.decay_epochs * unit : o.decay_steps;
    const int64_t start = o.decay_start > 0 ? o.decay_start * unit : period;
    const int64_t n = after < start ? 0 : (after - start) / period + 1;
    return o.lr * std::pow(o.decay_factor, static_cast<double>(n));
  }
  if (o.schedule == "cosine")
    return o.min_lr + (o.lr - o.min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
  if (o.schedule == "linear") return o.lr + (o.min_lr - o.lr) * progress;
  if (o.schedule == "plateau") return o.lr * plateau_scale;
  if (o.schedule == "slanted_triangular") {
    // Howard and Ruder (2018), eq. 3: cut = floor(T cut_frac);
    // p = t / cut before it, 1 - (t - cut) / (cut (1 / cut_frac - 1)) after;
    // lr_t = lr (1 + p (ratio - 1)) / ratio.
    const double T = static_cast<double>(span), t = static_cast<double>(after);
    const double cut = std::max(1.0, std::floor(T * o.stlr_cut_frac));
    const double p =
        t < cut ? t / cut : std::max(0.0, 1.0 - (t - cut) / (cut * (1.0 / o.stlr_cut_frac - 1.0)));
    return o.lr * (1.0 + p * (o.stlr_ratio - 1.0)) / o.stlr_ratio;
  }
  return o.lr;
}

// ---------------------------------------------------------------------------
// Batches of examples shared by the ranks

std::vector<int64_t> deal_examples(const std::vector<int64_t>& batch,
                                   const std::vector<int64_t>& costs, int64_t rank, int64_t world) {
  if (world <= 1) return batch;
  // Longest processing time first: the costliest example to the rank with
  // the least cost so far.
  std::vector<size_t> order(batch.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return costs[a] > costs[b]; });
  std::vector<int64_t> load(static_cast<size_t>(world), 0);
  std::vector<char> mine(batch.size(), 0);
  for (size_t i : order) {
    size_t r = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    load[r] += std::max<int64_t>(1, costs[i]);
    mine[i] = static_cast<int64_t>(r) == rank;
  }
  std::vector<int64_t> out;
  for (size_t i = 0; i < batch.size(); ++i)
    if (mine[i]) out.push_back(batch[i]);
  return out;
}

void ExampleTask::shard(Collective& collective) {
  collective_ = &collective;
  rank_ = collective.rank();
  world_ = collective.size();
}

std::pair<int64_t, int64_t> ExampleTask::eval_part(int64_t n) const {
  return {n * rank_ / world_, n * (rank_ + 1) / world_};
}

std::vector<double> ExampleTask::sum_over_ranks(const std::vector<double>& values) const {
  return collective_ ? collective_->sum(values) : values;
}

std::vector<std::string> ExampleTask::gather_over_ranks(
    const std::vector<std::string>& texts) const {
  return collective_ ? collective_->all_gather_texts(texts) : texts;
}

std::vector<int64_t> ExampleTask::share(const std::vector<int64_t>& batch,
                                        const std::function<int64_t(int64_t)>& cost) const {
  if (world_ <= 1) return batch;
  std::vector<int64_t> costs;
  costs.reserve(batch.size());
  for (int64_t e : batch) costs.push_back(cost(e));
  return deal_examples(batch, costs, rank_, world_);
}

StepOutput ExampleTask::no_examples() {
  StepOutput out;
  out.loss = torch::zeros({});
  out.units = 0;
  out.loss_items = 0;
  return out;
}

// ---------------------------------------------------------------------------
// The autograd engine

namespace {

class AutogradEngine : public Engine {
 public:
  AutogradEngine(Task& task, const TrainSection& train, const OptimSection& optim)
      : task_(task), train_(train), optim_(optim), params_(task.model().parameters()) {
    steps_per_epoch_ = task.batches_per_epoch();
    total_steps_ = train.max_steps > 0 ? train.max_steps : train.max_epochs * steps_per_epoch_;
    std::vector<ParamGroup> groups = task.param_groups();
    for (const auto& g : groups) lr_scales_.push_back(g.lr_scale);
    optimizer_ = make_optimizer(optim, groups);
  }
  int64_t steps_per_epoch() const override { return steps_per_epoch_; }

  // One update: lr_t = schedule(step) x plateau scale x group scale;
  // g = grad(loss); g <- g min(1, clip / |g|); optimizer step.
  void advance(const TrainingState& s,
               const std::function<bool(const EngineProgress&)>& report) override {
    auto t0 = Clock::now();
    if (!averaging_ && optim_.asgd_start_epoch > 0 && s.epoch + 1 >= optim_.asgd_start_epoch)
      start_averaging(fmt::format("epoch {} (optim.asgd_start_epoch)", s.epoch + 1));
    EngineProgress p;
    p.lr = Trainer::scheduled_lr(optim_, s.step, total_steps_, s.validation.lr_scale,
                                 steps_per_epoch_);
    auto& groups = optimizer_->param_groups();
    for (size_t i = 0; i < groups.size(); ++i) groups[i].options().set_lr(p.lr * lr_scales_[i]);
    task_.model().train();
    optimizer_->zero_grad();
    StepOutput out = task_.train_step(s.batch);
    double loss = std::isnan(out.reported_loss) ? out.loss.item<double>() : out.reported_loss;
    int64_t units = out.units;
    const double items = static_cast<double>(out.loss_items >= 0 ? out.loss_items : out.units);
    double scale = 1.0;
    if (collective_) {
      // The whole batch's mean loss: L = sum_r n_r L_r / N over the ranks'
      // items. Rank r back-propagates (W n_r / N) L_r; averaging over the W
      // ranks then gives the gradient of L on every rank. A summed loss
      // (L = sum_r L_r) is back-propagated times W.
      auto c0 = Clock::now();
      std::vector<double> total =
          collective_->sum({items > 0 ? loss * items : 0.0, items, static_cast<double>(units)});
      comm_seconds_ += seconds_since(c0);
      units = static_cast<int64_t>(total[2]);
      loss = total[0] / std::max(1.0, total[1]);
      const double W = static_cast<double>(collective_->size());
      scale = out.loss_is_sum ? W : W * items / std::max(1.0, total[1]);
    }
    if (!std::isfinite(loss))
      throw Diverged(fmt::format("training loss is {} at update {} in epoch {}", non_finite(loss),
                                 s.step + 1, s.epoch + 1),
                     "; a lower optim.lr or train.clip_norm may help");
    if (scale == 1.0)
      out.loss.backward();
    else if (items > 0)
      (out.loss * scale).backward();
    if (collective_) {
      auto c0 = Clock::now();
      collective_->average_gradients(params_);
      comm_seconds_ += seconds_since(c0);
    }
    // The norm is computed (and checked) even without clipping: an infinite
    // limit never scales the gradients.
    double limit = train_.clip_norm > 0 ? train_.clip_norm : INFINITY;
    p.grad_norm = torch::nn::utils::clip_grad_norm_(params_, limit);
    if (!std::isfinite(p.grad_norm))
      throw Diverged(
          fmt::format("gradient norm is {} at update {}", non_finite(p.grad_norm), s.step + 1), "");
    if (out.lr_scale != 1.0)
      for (size_t i = 0; i < groups.size(); ++i)
        groups[i].options().set_lr(p.lr * lr_scales_[i] * out.lr_scale);
    optimizer_->step();
    if (averaging_) {
      // NT-ASGD: ax <- ax + (w - ax) / n, the mean of the n iterates since the switch
      torch::NoGradGuard no_grad;
      ++averaged_;
      for (size_t i = 0; i < params_.size(); ++i)
        averages_[i].add_(params_[i].detach() - averages_[i], 1.0 / static_cast<double>(averaged_));
    }
    p.step = s.step + 1, p.batch = s.batch + 1;
    p.units = units;
    p.loss_sum = loss * static_cast<double>(units);
    p.seconds = seconds_since(t0);
    step_seconds_ += p.seconds;
    report(p);
  }

  void save(torch::serialize::OutputArchive& archive, YAML::Node& engine) const override {
    optimizer_->save(archive);
    if (optim_.asgd_nonmono <= 0) return;
    engine["asgd_history"] = history_;
    engine["asgd_averaging"] = averaging_;
    engine["asgd_averaged"] = averaged_;
    for (size_t i = 0; i < averages_.size(); ++i)
      archive.write("asgd_average_" + std::to_string(i), averages_[i]);
  }

  // NT-ASGD: validations and the best checkpoint see the averaged weights.
  void begin_evaluation() override {
    if (!averaging_ || swapped_) return;
    torch::NoGradGuard no_grad;
    raw_.clear();
    for (size_t i = 0; i < params_.size(); ++i) {
      raw_.push_back(params_[i].detach().clone());
      params_[i].detach().copy_(averages_[i]);
    }
    swapped_ = true;
  }
  void end_evaluation() override {
    if (!swapped_) return;
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) params_[i].detach().copy_(raw_[i]);
    raw_.clear();
    swapped_ = false;
  }
  // The switch (Merity et al. 2017, NT-ASGD with non-monotone interval n):
  // averaging starts once a validation is worse than the best of those more
  // than n validations before it.
  void validated(double value, bool lower_is_better) override {
    const auto n = static_cast<size_t>(optim_.asgd_nonmono);
    if (n == 0 || averaging_) return;
    const double v = lower_is_better ? value : -value;
    if (history_.size() > n && v > *std::min_element(history_.begin(), history_.end() - n))
      start_averaging(fmt::format(
          "validation {} is worse than the best of those {}+ validations before", value, n + 1));
    history_.push_back(v);
  }
  void start_averaging(const std::string& why) {
    averaging_ = true;
    averaged_ = 0;
    averages_.clear();
    for (const auto& p : params_) averages_.push_back(p.detach().clone());
    logger()->info("NT-ASGD: {}; averaging the weights from here on", why);
  }
  void add_summary_asgd(nlohmann::json& summary) const {
    if (optim_.asgd_nonmono > 0) summary["asgd_averaged_updates"] = averaged_;
  }
  // Data-parallel: the time this process spent in the update's all-reduces
  // (waiting for the slowest rank included), as a share of its updates' time.
  void add_summary(nlohmann::json& summary) const override {
    add_summary_asgd(summary);
    if (!collective_ || step_seconds_ <= 0) return;
    summary["allreduce_seconds"] = comm_seconds_;
    summary["allreduce_share"] = comm_seconds_ / step_seconds_;
  }
  bool set_collective(Collective* collective) override {
    collective_ = collective;
    return true;
  }
  void load(torch::serialize::InputArchive& archive, const YAML::Node& engine,
            const fs::path& file) override {
    try {
      optimizer_->load(archive);
      if (optim_.asgd_nonmono > 0 && engine && engine["asgd_history"]) {
        history_ = engine["asgd_history"].as<std::vector<double>>();
        averaging_ = engine["asgd_averaging"].as<bool>();
        averaged_ = engine["asgd_averaged"].as<int64_t>();
        averages_.clear();
        if (averaging_) {
          for (size_t i = 0; i < params_.size(); ++i) {
            torch::Tensor t;
            archive.read("asgd_average_" + std::to_string(i), t);
            averages_.push_back(t.to(params_[i].device()));
          }
        }
      }
    } catch (const YAML::Exception& e) {
      throw DataError("checkpoint '" + file.string() + "': its NT-ASGD state is malformed (" +
                      e.what() + ")");
    } catch (const c10::Error& e) {
      throw DataError(
          "checkpoint '" + file.string() +
          "' cannot be resumed (written for another optimizer or model?): " + first_line(e));
    }
  }

 private:
  Task& task_;
  const TrainSection& train_;
  const OptimSection& optim_;
  std::vector<torch::Tensor> params_;
  int64_t steps_per_epoch_ = 0, total_steps_ = 0;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<double> lr_scales_;  // per optimizer parameter group
  Collective* collective_ = nullptr;
  double comm_seconds_ = 0, step_seconds_ = 0;  // this process's, since it started
  // NT-ASGD: validation figures (lower is better), whether averaging, over
  // how many updates, the averages, and the raw weights while they are out
  std::vector<double> history_;
  bool averaging_ = false, swapped_ = false;
  int64_t averaged_ = 0;
  std::vector<torch::Tensor> averages_, raw_;
};

}  // namespace

std::unique_ptr<Engine> make_autograd_engine(Task& task, const TrainSection& train,
                                             const OptimSection& optim) {
  return std::make_unique<AutogradEngine>(task, train, optim);
}

// ---------------------------------------------------------------------------
// The trainer

struct Trainer::State : TrainingState {
  // Derived settings.
  int64_t batches_per_epoch = 0, total_steps = 0;
  double grad_norm = NAN, lr = 0;  // of the last update
  Clock::time_point started;
  bool has_checkpoint = false;
};

Trainer::Trainer(Task& task, const TrainSection& train, const OptimSection& optim,
                 const RunSection& run, const ConfigSchema* schema, std::unique_ptr<Engine> engine)
    : task_(task), train_(train), optim_(optim), run_(run), s_(new State) {
  ConfigSchema empty;
  const ConfigSchema& sch = schema ? *schema : empty;
  train.validate(sch);
  optim.validate(sch, train);
  MetricInfo metric = resolve_early_stop(train, task.metrics(), schema);
  tracker_ = std::make_unique<BestTracker>(metric, train.patience, optim.plateau_patience,
                                           optim.decay_factor, optim.schedule == "plateau");
  engine_ = engine ? std::move(engine) : make_autograd_engine(task, train, optim);
  s_->batches_per_epoch = engine_->steps_per_epoch();
  if (s_->batches_per_epoch <= 0) throw DataError("the training data gives no batches");
  s_->total_steps =
      train.max_steps > 0 ? train.max_steps : train.max_epochs * s_->batches_per_epoch;
  // In a data-parallel job, every trainer trains over it.
  set_collective(process_collective());
}

Trainer::~Trainer() = default;

void Trainer::set_collective(Collective* collective) {
  if (!collective || collective->size() == 1) return;
  if (!engine_->set_collective(collective))
    throw ConfigError("this engine trains in one process only");
  for (const auto& p : task_.model().parameters())
    if (!p.device().is_cpu())
      throw ConfigError(
          "key 'run.device': data-parallel training runs on the CPU (c10d's Gloo backend); set "
          "run.device: cpu");
  task_.shard(*collective);
  collective->mark_used();
  collective_ = collective;
  writer_ = collective->rank() == 0;
  // The model is built (the same on every rank, from run.seed); from here on
  // each rank draws its own random numbers (dropout masks of its share):
  // rank 0 goes on with the run's stream, rank r > 0 starts ("rank", r)'s.
  if (collective->rank() > 0)
    torch::manual_seed(datasets::derive_seed(static_cast<uint64_t>(run_.seed), "rank",
                                             {static_cast<uint64_t>(collective->rank())}));
}

std::pair<std::string, int> Trainer::agreed_stop() const {
  std::string reason = finished_reason();
  int sig = StopSignals::requested();
  if (!collective_) return {reason, sig};
  // Every reason but the time limit is the same on every rank (the same
  // position, the same validations); the time limit is rank 0's clock.
  std::vector<double> v = collective_->sum({writer_ && !reason.empty() ? 1.0 : 0.0,
                                            sig == SIGINT ? 1.0 : 0.0, sig == SIGTERM ? 1.0 : 0.0});
  if (v[0] > 0 && reason.empty()) reason = "time limit";
  if (v[0] == 0 && reason == "time limit") reason.clear();
  sig = v[2] > 0 ? SIGTERM : v[1] > 0 ? SIGINT : 0;
  return {reason, sig};
}

namespace {

// The state's YAML beside checkpoint F: F with ".yml" added.
fs::path state_file(const fs::path& checkpoint) {
  fs::path p = checkpoint;
  p += ".yml";
  return p;
}

}  // namespace

void Trainer::save_checkpoint(const fs::path& path) {
  s_->has_checkpoint = true;
  torch::serialize::OutputArchive task;
  task_.save_state(task);  // on every rank: it may gather the ranks' parts
  // Every rank's random stream, [W, n] in rank order (data-parallel).
  torch::Tensor rank_rngs;
  if (collective_) rank_rngs = collective_->all_gather(cpu_rng_state().unsqueeze(0), 0);
  if (!writer_) return;
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model, engine;
  task_.model().save(model);
  s_->validation = tracker_->state();
  s_->engine = YAML::Node(YAML::NodeType::Map);
  engine_->save(engine, s_->engine);
  archive.write("model", model);
  archive.write("engine", engine);
  archive.write("task", task);
  const std::string state = s_->to_yaml();
  archive.write("training_state", c10::IValue(state));
  save_rng_state(archive);
  if (rank_rngs.defined()) archive.write("rng_ranks", rank_rngs);
  save_archive_atomic(archive, path);
  // The readable copy, written after the checkpoint: a reader may see the
  // previous one for a moment, never a partial one.
  write_file_atomic(state_file(path), state);
  s_->has_checkpoint = true;
}

namespace {

// A checkpoint written before the named training state (rnnlab before
// 2026-12-06): the position as anonymous tensors; the optimizer in
// "optimizer". Read so that runs in progress then can still be resumed.
bool read_legacy_state(torch::serialize::InputArchive& archive, TrainingState& s) {
  torch::Tensor pos, seconds, tracker, window;
  if (!archive.try_read("position", pos) || !archive.try_read("train_seconds", seconds) ||
      !archive.try_read("tracker", tracker) || !archive.try_read("window", window))
    return false;
  if (pos.numel() != 5 || tracker.numel() != 5 || window.numel() != 4 || seconds.numel() != 1)
    return false;
  pos = pos.to(torch::kLong).contiguous();
  tracker = tracker.to(torch::kDouble).contiguous();
  window = window.to(torch::kDouble).contiguous();
  auto p = pos.accessor<int64_t, 1>();
  s.step = p[0], s.epoch = p[1], s.batch = p[2], s.last_eval_step = p[3], s.units = p[4];
  s.train_seconds = seconds.item<double>();
  auto w = window.accessor<double, 1>();
  s.window.loss = w[0], s.window.seconds = w[1];
  s.window.units = static_cast<int64_t>(w[2]), s.window.steps = static_cast<int64_t>(w[3]);
  auto t = tracker.accessor<double, 1>();
  s.validation.best = t[0], s.validation.best_step = static_cast<int64_t>(t[1]);
  s.validation.bad_evals = static_cast<int64_t>(t[2]);
  s.validation.since_decay = static_cast<int64_t>(t[3]), s.validation.lr_scale = t[4];
  s.engine = YAML::Node(YAML::NodeType::Map);
  return true;
}

TrainingState read_state_from(torch::serialize::InputArchive& archive, const fs::path& path,
                              bool* legacy = nullptr) {
  c10::IValue text;
  if (archive.try_read("training_state", text) && text.isString()) {
    if (legacy) *legacy = false;
    return TrainingState::from_yaml(text.toStringRef(), "checkpoint '" + path.string() + "'");
  }
  TrainingState s;
  if (read_legacy_state(archive, s)) {
    if (legacy) *legacy = true;
    return s;
  }
  throw DataError("checkpoint '" + path.string() +
                  "' has no training state this version can read (written by another version "
                  "of rnnlab, or by another engine?)");
}

}  // namespace

TrainingState Trainer::read_state(const fs::path& path) {
  torch::serialize::InputArchive archive;
  read_archive(archive, path);
  return read_state_from(archive, path);
}

void Trainer::load_checkpoint(const fs::path& path) {
  torch::serialize::InputArchive archive, model, engine, task;
  read_archive(archive, path);
  if (!archive.try_read("model", model))
    throw DataError("checkpoint '" + path.string() + "' has no model in it");
  bool legacy = false;
  TrainingState st = read_state_from(archive, path, &legacy);
  load_module(task_.model(), model, path);
  try {
    archive.read(legacy ? "optimizer" : "engine", engine);
    load_rng_state(archive);
    if (collective_) {
      // Each rank's own stream; a rank the checkpoint's job did not have
      // (resumed with more processes) starts ("rank", r, step)'s.
      const int64_t r = collective_->rank();
      torch::Tensor ranks;
      if (archive.try_read("rng_ranks", ranks) && ranks.size(0) > r)
        set_cpu_rng_state(ranks[r].contiguous());
      else if (r > 0)
        torch::manual_seed(
            datasets::derive_seed(static_cast<uint64_t>(run_.seed), "rank",
                                  {static_cast<uint64_t>(r), static_cast<uint64_t>(st.step)}));
    }
  } catch (const c10::Error& e) {
    throw DataError("checkpoint '" + path.string() +
                    "' cannot be resumed (written by another version, or for another engine?): " +
                    first_line(e));
  }
  engine_->load(engine, st.engine, path);
  static_cast<TrainingState&>(*s_) = st;
  tracker_->set_state(st.validation);
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
  r.loss = s.window.loss / static_cast<double>(std::max<int64_t>(1, s.window.units));
  r.metrics = task_.loss_metrics(r.loss);
  r.units_per_sec = static_cast<double>(s.window.units) / std::max(1e-9, s.window.seconds);
  r.lr = s.lr;
  r.grad_norm = s.grad_norm;
  r.train_seconds = s.train_seconds;
  if (progress_) progress_->log(r);
  s.last_loss = r.loss;
  s.window = LogWindow{};
}

bool Trainer::record(const EngineProgress& p) {
  State& s = *s_;
  const int64_t before = s.step;
  s.step = p.step, s.batch = p.batch;
  s.lr = p.lr, s.grad_norm = p.grad_norm;
  s.train_seconds += p.seconds;
  s.units += p.units;
  s.window.seconds += p.seconds, s.window.loss += p.loss_sum;
  s.window.units += p.units, s.window.steps += p.step - before;
  // A line each time the position passes a multiple of log_every.
  if (s.step / train_.log_every > before / train_.log_every) log_train_line();
  double frac = s.total_steps > 0 ? static_cast<double>(s.step) / s.total_steps : 0;
  if (train_.max_minutes > 0) frac = std::max(frac, s.train_seconds / (train_.max_minutes * 60));
  const bool go_on = StopSignals::requested() == 0 &&
                     !(train_.max_minutes > 0 && s.train_seconds >= train_.max_minutes * 60);
  if (!progress_) return go_on;
  double shown = s.window.units
                     ? s.window.loss / static_cast<double>(s.window.units)
                     : (p.units ? p.loss_sum / static_cast<double>(p.units) : s.last_loss);
  progress_->bar(frac, s.step, shown,
                 static_cast<double>(s.window.units) / std::max(1e-9, s.window.seconds), s.lr,
                 s.train_seconds);
  return go_on;
}

bool Trainer::validate(bool final) {
  State& s = *s_;
  Metrics m;
  engine_->begin_evaluation();
  try {
    m = task_.evaluate("valid");
  } catch (const Interrupted&) {
    // Saved at the position before this validation, which --resume redoes.
    engine_->end_evaluation();
    save_checkpoint(dir_->file("checkpoint_last.pt"));
    throw;
  }
  s.last_eval_step = s.step;
  if (progress_) progress_->clear();
  if (collective_ && !m.empty()) {
    // Rank 0's figures decide, on every rank.
    std::vector<double> mine;
    for (const auto& [key, value] : m) mine.push_back(writer_ ? value : 0.0);
    std::vector<double> agreed = collective_->sum(mine);
    size_t i = 0;
    for (auto& [key, value] : m) value = agreed[i++];
  }
  bool stop = false;
  if (!m.empty()) {
    const std::string& name = tracker_->metric().name;
    if (!m.count(name))
      throw RuntimeError("the task declared validation metric '" + name +
                         "' but its evaluation did not return it");
    BestTracker::Verdict v = tracker_->update(s.step, m.at(name));
    if (writer_)
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
    engine_->end_evaluation();
    engine_->validated(m.at(name), !tracker_->metric().higher_is_better);
  }
  engine_->end_evaluation();
  save_checkpoint(dir_->file("checkpoint_last.pt"));
  if (!final && writer_) dir_->plot_learning_curve(task_.loss_label(), tracker_->metric().name);
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
    if (writer_) dir.remove_temporaries();
    fs::path last = dir.file("checkpoint_last.pt");
    fs::path from = dir.resume_checkpoint();
    if (from.empty()) {
      if (writer_) dir.truncate_metrics_after(-1);
      if (on_resumed_ && writer_) on_resumed_(0);
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
      if (writer_) {
        dir.mark_incomplete();
        dir.truncate_metrics_after(s.step);
        if (on_resumed_) on_resumed_(s.step);
      }
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
            "resumed from {} at update {}: training is over ({}{}); finishing the run (final "
            "evaluation and summary)",
            from.string(), s.step, over,
            // train.max_minutes counts the whole run's training, not this
            // slice's: say so where a --set gave less than was done.
            over == "time limit"
                ? fmt::format(": {:.1f} min trained, train.max_minutes {} counts the whole run's "
                              "training; give more to train on",
                              s.train_seconds / 60, train_.max_minutes)
                : std::string());
    }
  } else {
    task_.start_epoch(0);
  }
  for (const auto& line : intro_) logger()->info("{}", line);
  if (writer_)
    progress_ = std::make_unique<Progress>(dir, task_.unit_name(), run_.progress, label_);

  StopSignals signals;  // handlers restored on every way out of fit()
  StopSignals::clear();
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
    auto [reason, sig] = agreed_stop();
    stop_reason = reason;
    if (!stop_reason.empty()) break;
    if (sig) {
      save_checkpoint(dir.file("checkpoint_last.pt"));
      interrupted(sig, "");
    }

    try {
      engine_->advance(s, [this](const EngineProgress& p) { return record(p); });
    } catch (const Diverged& e) {
      throw RuntimeError(std::string(e.what()) + " (the model diverged); stopped, " + last_good() +
                         e.hint());
    }
  }
  if (progress_) progress_->clear();

  // The final phase: a last validation, the best checkpoint's figures, the
  // app's own work, then summary.json. A signal here stops the run; its last
  // checkpoint is already at the final position, so --resume redoes this.
  nlohmann::json summary;
  try {
    if (s.last_eval_step != s.step) validate(true);
    StopSignals::throw_if_requested();
    // Final figures come from the best checkpoint (the last one without validation).
    fs::path best = dir.file("checkpoint_best.pt");
    if (collective_) collective_->barrier();  // rank 0 has written it
    if (fs::exists(best)) load_model_from(task_.model(), best);
    for (const auto& split : {"valid", "test"}) {
      std::string prefix = std::string(split) == "valid" ? "val_" : "test_";
      for (const auto& [k, v] : task_.evaluate(split)) summary[prefix + k] = v;
    }
    int64_t n_params = 0;
    for (const auto& p : task_.model().parameters()) n_params += p.numel();
    summary["best_step"] = tracker_->best_step();
    summary["best_metric"] = "val_" + tracker_->metric().name;
    summary["best_metric_higher_is_better"] = tracker_->metric().higher_is_better;
    summary["steps"] = s.step;
    summary["epochs"] = static_cast<double>(s.step) / s.batches_per_epoch;
    summary["seed"] = run_.seed;
    summary["train_seconds"] = s.train_seconds;
    summary["parameters"] = n_params;
    if (std::isfinite(s.last_loss)) summary["train_loss"] = s.last_loss;
    double units_per_sec = static_cast<double>(s.units) / std::max(1e-9, s.train_seconds);
    summary[task_.unit_name() + "_per_sec"] = units_per_sec;
    summary["loss_label"] = task_.loss_label();
    task_.add_summary(summary, units_per_sec);
    engine_->add_summary(summary);
    summary["stop_reason"] = stop_reason;
    if (on_finish_ && writer_) on_finish_(summary);
    StopSignals::throw_if_requested();
  } catch (const Interrupted& e) {
    interrupted(e.exit_code() - 128, "the final evaluation");
  }
  summary["wall_seconds"] = seconds_since(s.started);
  if (writer_) {
    dir.plot_learning_curve(task_.loss_label(), tracker_->metric().name);
    dir.write_summary(summary);
  }
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
