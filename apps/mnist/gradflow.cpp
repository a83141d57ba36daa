// rnnlab-mnist gradflow (see gradflow.h).
#include "apps/mnist/gradflow.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <iostream>
#include <map>

#include "apps/framework/run_dir.h"
#include "apps/framework/signals.h"
#include "core/error.h"
#include "datasets/batching.h"
#include "results/gnuplot.h"

namespace fs = std::filesystem;

namespace rnnlab::mnist {

namespace {

const std::vector<std::string> kModels = {"rnn_tanh", "irnn", "lstm", "lstm_chrono", "gru"};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// One model's curves: g_t at initialisation and after training.
struct Curve {
  std::string model;
  std::vector<double> init, trained;
  double val_accuracy = -1;  // after training, on the validation batch's part
  double train_seconds = 0;
};

bool plot(const RunDir& dir, const std::vector<Curve>& curves, const std::string& sequence) {
  static const std::map<std::string, std::string> colour = {{"rnn_tanh", "#d62728"},
                                                            {"irnn", "#ff7f0e"},
                                                            {"lstm", "#1f77b4"},
                                                            {"lstm_chrono", "#9467bd"},
                                                            {"gru", "#2ca02c"}};
  std::string plots;
  int column = 2;  // column 1 is t
  for (const auto& c : curves) {
    const std::string& lc = colour.at(c.model);
    plots += fmt::format(
        "{}'gradflow.csv' using 1:{} with lines dt 2 lw 1.5 lc rgb '{}' title "
        "'{} init' noenhanced",
        plots.empty() ? "" : ", \\\n     ", column++, lc, c.model);
    if (!c.trained.empty())
      plots += fmt::format(
          ", \\\n     'gradflow.csv' using 1:{} with lines dt 1 lw 2.5 lc rgb '{}' title '{} "
          "trained' noenhanced",
          column++, lc, c.model);
  }
  const std::string script = fmt::format(
      "set terminal svg size 900,540 dynamic font 'sans,12' background rgb 'white'\n"
      "set output 'gradflow.svg'\n"
      "set datafile separator ','\n"
      "set title {}\n"
      "set xlabel 'time step t (pixel)'\n"
      "set ylabel '||dL/dh_t|| (mean over the batch)'\n"
      "set logscale y\nset format y '10^{{%L}}'\nset grid\nset key bottom left\n"
      "plot {}\n",
      gnuplot_quote(fmt::format("MNIST as {}: gradient reaching each step from the loss at the "
                                "last one",
                                sequence)),
      plots);
  write_file_atomic(dir.file("gradflow.gp"), script);
  return run_gnuplot(dir.file("gradflow.gp"), dir.path());
}

std::string csv(const std::vector<Curve>& curves) {
  std::string out = "t";
  for (const auto& c : curves) {
    out += "," + c.model + "_init";
    if (!c.trained.empty()) out += "," + c.model + "_trained";
  }
  out += "\n";
  const size_t T = curves.front().init.size();
  for (size_t t = 0; t < T; ++t) {
    out += std::to_string(t + 1);
    for (const auto& c : curves) {
      out += fmt::format(",{:.6e}", c.init[t]);
      if (!c.trained.empty()) out += fmt::format(",{:.6e}", c.trained[t]);
    }
    out += "\n";
  }
  return out;
}

/// How far back the gradient reaches: the steps t (counted back from T) whose
/// g_t is at least 1e-3 of g_T, up to the first that is not.
int64_t reach(const std::vector<double>& g) {
  int64_t n = 0;
  for (auto it = g.rbegin(); it != g.rend() && *it >= 1e-3 * g.back(); ++it) ++n;
  return n;
}

}  // namespace

void GradflowConfig::bind(ConfigSchema& s) {
  bind_sequence_keys(s, &data);
  s.add("gradflow.models", &gradflow.models,
        "the stacks to measure: rnn_tanh (torch's default initialisation), irnn (relu, W_hh = I, "
        "biases 0), lstm (forget-gate bias 1), lstm_chrono (chrono forget-gate bias for T_max = "
        "the sequence length), gru");
  s.add("gradflow.impl", &gradflow.impl, "hand-written cells (custom) or torch::nn (builtin)")
      .choices({"custom", "builtin"});
  s.add("gradflow.hidden", &gradflow.hidden, "hidden units of every model").range(1, 1 << 16);
  s.add("gradflow.batch_size", &gradflow.batch_size,
        "validation images measured (the first of the last 5,000 training images) and images per "
        "training update")
      .range(1, 5000);
  s.add("gradflow.train_steps", &gradflow.train_steps,
        "Adam updates on the training images before the second measurement (0: at "
        "initialisation only)")
      .range(0, 10000000);
  s.add("gradflow.lr", &gradflow.lr, "Adam learning rate of the training updates").greater(0.0);
  s.add("gradflow.clip_norm", &gradflow.clip_norm,
        "clip the global gradient norm of the training updates (0: no clipping)")
      .range(0.0, 1e9);
  run.bind(s);
}

void GradflowConfig::validate(const ConfigSchema& s) const {
  if (gradflow.models.empty()) throw s.error("gradflow.models", "name at least one model");
  for (const auto& m : gradflow.models)
    if (std::find(kModels.begin(), kModels.end(), m) == kModels.end())
      throw s.error("gradflow.models", "unknown model '" + m +
                                           "' (expected rnn_tanh, irnn, lstm, lstm_chrono or gru)");
  if (run.repeats != 1)
    throw s.error("run.repeats", "gradflow measures once; use run.seed for another draw");
}

RecurrentSection gradflow_model(const std::string& name, const std::string& impl, int64_t hidden,
                                int64_t steps) {
  RecurrentSection r;
  r.impl = impl;
  r.stack.hidden_size(hidden);
  if (name == "rnn_tanh" || name == "irnn") {
    r.type = "rnn";
    r.nonlinearity = name == "irnn" ? "relu" : "tanh";
    if (name == "irnn") r.hidden_init = "identity";
  } else if (name == "lstm" || name == "lstm_chrono") {
    r.type = "lstm";
    r.forget_bias = name == "lstm" ? "one" : "chrono";
    if (name == "lstm_chrono") r.stack.chrono_max(steps);
  } else {
    r.type = name;
  }
  return r;
}

std::vector<double> gradient_per_step(SequenceClassifier& model, const torch::Tensor& x,
                                      const torch::Tensor& y) {
  model->eval();  // no dropout; gradients are still recorded
  const int64_t T = x.size(0);
  // Unrolled one step at a time through the same stack, keeping every h_t
  // (L*D, B, H) in the graph with its gradient retained.
  RecurrentState state;
  std::vector<torch::Tensor> hs;
  hs.reserve(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    auto [out, next] = model->encoder->forward(x.narrow(0, t, 1), state);
    (void)out;
    next.h.retain_grad();
    hs.push_back(next.h);
    state = next;
  }
  const int64_t B = x.size(1);
  torch::Tensor logits = model->output(state.h[state.h.size(0) - 1].reshape({B, -1}));
  torch::nn::functional::cross_entropy(logits, y).backward();
  std::vector<double> g;
  g.reserve(static_cast<size_t>(T));
  for (const auto& h : hs) {
    // the last layer's dL/dh_t: (B, H) -> mean over the batch of its norm
    torch::Tensor grad = h.grad()[h.size(0) - 1];
    g.push_back(grad.norm(2, {1}).mean().item<double>());
  }
  model->zero_grad();
  return g;
}

int gradflow_command(const TrainArgs& args) {
  GradflowConfig cfg;
  ConfigSchema schema;
  if (args.config.empty() && !args.list_keys)
    throw UsageError("gradflow: a config file is required (see --help)");
  if (!prepare_config(cfg, schema, args)) return 0;
  MnistConfig m;  // the data as the classifier reads it
  m.run = cfg.run;
  m.data = cfg.data;
  m.data.val_size = 5000;
  const auto& g = cfg.gradflow;
  for (const auto& name : g.models) {
    RecurrentSection r = gradflow_model(name, g.impl, g.hidden, m.steps());
    r.validate(schema, "gradflow.models");
  }
  MnistData data = load_data(m);
  const std::vector<int64_t> order = m.data.sequence == "permuted"
                                         ? draw_permutation(m.data.permutation_seed)
                                         : std::vector<int64_t>{};
  torch::Device device = resolve_device(cfg.run.device);
  seed_run(cfg.run);
  NewRun made = create_run_dir(schema, cfg.run, args);
  const RunDir& dir = made.dir;
  if (m.data.sequence == "permuted") save_permutation(dir.file("permutation.json"), order);
  const auto t0 = std::chrono::steady_clock::now();
  logger()->info("run directory: {}", dir.path().string());
  logger()->info(
      "gradflow: MNIST as {} ({} steps), {} validation images, hidden {}, impl {}, {} Adam "
      "updates at lr {}, device {}",
      m.data.sequence, m.steps(), g.batch_size, g.hidden, g.impl, g.train_steps, g.lr,
      device.str());
  const torch::Tensor x =
      to_sequences(m, data.valid.images.narrow(0, 0, g.batch_size), order).to(device);
  const torch::Tensor y = data.valid.labels.narrow(0, 0, g.batch_size).to(device);

  std::vector<Curve> curves;
  for (const auto& name : g.models) {
    StopSignals::throw_if_requested();
    Curve c;
    c.model = name;
    m.model.rnn = gradflow_model(name, g.impl, g.hidden, m.steps());
    torch::manual_seed(cfg.run.seed);  // every model starts from the run's seed
    SequenceClassifier model = build_model(m);
    model->to(device);
    c.init = gradient_per_step(model, x, y);
    logger()->info("{}: init ||dL/dh_1|| {:.3e}, ||dL/dh_T|| {:.3e}", name, c.init.front(),
                   c.init.back());
    if (g.train_steps > 0) {
      const auto t1 = std::chrono::steady_clock::now();
      torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(g.lr));
      auto batches =
          datasets::make_batches(data.train.size(), g.batch_size, true,
                                 datasets::epoch_seed(static_cast<uint64_t>(cfg.run.seed), 0));
      for (int64_t step = 0; step < g.train_steps; ++step) {
        StopSignals::throw_if_requested();
        const auto& b = batches[static_cast<size_t>(step) % batches.size()];
        torch::Tensor idx = torch::tensor(b, torch::kLong);
        model->train();
        torch::Tensor loss = torch::nn::functional::cross_entropy(
            model->forward(
                to_sequences(m, data.train.images.index_select(0, idx), order).to(device)),
            data.train.labels.index_select(0, idx).to(device));
        adam.zero_grad();
        loss.backward();
        if (g.clip_norm > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), g.clip_norm);
        adam.step();
        if ((step + 1) % 50 == 0 || step + 1 == g.train_steps)
          logger()->info("{}: update {}/{} loss {:.4f}", name, step + 1, g.train_steps,
                         loss.item<double>());
      }
      c.train_seconds = seconds_since(t1);
      c.trained = gradient_per_step(model, x, y);
      torch::Tensor probs = classify(model, m, data.valid.images, order, device);
      c.val_accuracy = 100.0 * probs.argmax(1).eq(data.valid.labels).sum().item<double>() /
                       static_cast<double>(data.valid.size());
    }
    curves.push_back(std::move(c));
  }
  write_file_atomic(dir.file("gradflow.csv"), csv(curves));
  const bool plotted = plot(dir, curves, m.data.sequence);

  const int64_t T = m.steps();
  std::string table = fmt::format(
      "||dL/dh_t||: mean over {} validation images, loss at step T = {} only; reach: the last "
      "steps whose gradient is at least 1e-3 of step T's\n",
      g.batch_size, T);
  table += fmt::format("{:<11} {:>11} {:>11} {:>6}", "model", "init t=1",
                       fmt::format("init t={}", T), "reach");
  if (g.train_steps > 0)
    table += fmt::format(" {:>11} {:>11} {:>6} {:>8}", "trained t=1", fmt::format("t={}", T),
                         "reach", "val acc");
  table += "\n";
  nlohmann::json summary;
  for (const auto& c : curves) {
    table += fmt::format("{:<11} {:>11.3e} {:>11.3e} {:>6}", c.model, c.init.front(), c.init.back(),
                         reach(c.init));
    summary[c.model + "_init_reach"] = reach(c.init);
    summary[c.model + "_init_grad_t1"] = c.init.front();
    summary[c.model + "_init_grad_tT"] = c.init.back();
    if (!c.trained.empty()) {
      table += fmt::format(" {:>11.3e} {:>11.3e} {:>6} {:>7.2f}%", c.trained.front(),
                           c.trained.back(), reach(c.trained), c.val_accuracy);
      summary[c.model + "_trained_reach"] = reach(c.trained);
      summary[c.model + "_trained_grad_t1"] = c.trained.front();
      summary[c.model + "_trained_grad_tT"] = c.trained.back();
      summary[c.model + "_val_accuracy"] = c.val_accuracy;
      summary[c.model + "_train_seconds"] = c.train_seconds;
    }
    table += "\n";
  }
  summary["sequence"] = m.data.sequence;
  summary["steps"] = T;
  summary["train_steps"] = g.train_steps;
  summary["wall_seconds"] = seconds_since(t0);
  dir.write_summary(summary);
  write_file_atomic(dir.file("gradflow.txt"), table);
  std::cout << table << std::flush;
  logger()->info("wrote gradflow.csv{} in {} ({:.0f}s)",
                 plotted ? ", gradflow.svg" : " (gnuplot unavailable: no gradflow.svg)",
                 dir.path().string(), seconds_since(t0));
  return 0;
}

}  // namespace rnnlab::mnist
