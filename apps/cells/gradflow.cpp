// rnnlab-cells gradflow: ||dL/dh_t|| over a long sequence for RNN, LSTM and
// GRU cells, at initialisation and after training on "recall the first symbol".
#include "apps/cells/task.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <sstream>

#include "apps/cells/common.h"
#include "apps/framework/progress.h"
#include "apps/framework/signals.h"
#include "core/error.h"
#include "modules/recurrent.h"
#include "modules/rnn.h"
#include "results/gnuplot.h"

namespace fs = std::filesystem;
using torch::Tensor;

namespace rnnlab::cells {

void GradflowConfig::bind(ConfigSchema& s) {
  s.add("gradflow.cells", &gradflow.cells, "cell types to measure (rnn, lstm, gru)");
  s.add("gradflow.steps", &gradflow.steps, "sequence length T; the loss sits at step T only")
      .range(2, 100000);
  s.add("gradflow.symbols", &gradflow.symbols,
        "vocabulary of the random sequences (chance accuracy is 1/symbols)")
      .range(2, 100000);
  s.add("gradflow.embedding", &gradflow.embedding, "symbol embedding size (the cells' input)")
      .range(1, 1 << 16);
  s.add("gradflow.hidden", &gradflow.hidden, "hidden units of the cell").range(1, 1 << 16);
  s.add("gradflow.batch_size", &gradflow.batch_size,
        "sequences per training step and in the measurement batch")
      .range(1, 1 << 20);
  s.add("gradflow.train_steps", &gradflow.train_steps,
        "Adam updates between the two measurements (0: measure at initialisation only)")
      .range(0, 10000000);
  s.add("gradflow.lr", &gradflow.lr, "Adam learning rate").greater(0.0);
  s.add("gradflow.clip_norm", &gradflow.clip_norm,
        "clip the global gradient norm to this (0: no clipping)")
      .range(0.0, 1e9);
  s.add("gradflow.curriculum", &gradflow.curriculum,
        "train on sequences of this length first, lengthened by a quarter each time the running "
        "batch accuracy reaches gradflow.promote_at, up to gradflow.steps (0: always "
        "gradflow.steps)")
      .range(0, 100000);
  s.add("gradflow.promote_at", &gradflow.promote_at,
        "curriculum: running batch accuracy that lengthens the training sequences")
      .range(0.0, 1.0);
  s.add("gradflow.eval_size", &gradflow.eval_size,
        "fresh full-length sequences the final recall accuracy is measured on")
      .range(1, 1 << 20);
  s.add("gradflow.log_every", &gradflow.log_every, "log a training line every N updates")
      .greater(0);
  run.bind(s);
}

void GradflowConfig::validate(const ConfigSchema& s) const {
  check_names(gradflow.cells, {"rnn", "lstm", "gru"}, "gradflow.cells",
              where_of(s, "gradflow.cells"));
  if (run.repeats != 1)
    throw s.error("run.repeats",
                  "gradflow runs once (its curves are one measurement); use run.seed instead");
}

namespace {

/// Embedding -> one hand-written cell unrolled over time -> linear read-out of
/// the last hidden state: predicts the first symbol of the sequence.
class RecallNetImpl : public torch::nn::Module {
 public:
  RecallNetImpl(const std::string& kind, int64_t symbols, int64_t embedding, int64_t hidden)
      : kind_(kind), hidden_(hidden) {
    emb_ = register_module("emb", torch::nn::Embedding(symbols, embedding));
    if (kind == "rnn") rnn_ = register_module("cell", RNNCell(embedding, hidden));
    if (kind == "lstm") lstm_ = register_module("cell", LSTMCell(embedding, hidden));
    if (kind == "gru") gru_ = register_module("cell", GRUCell(embedding, hidden));
    out_ = register_module("out", torch::nn::Linear(hidden, symbols));
  }

  /// tokens (T, B) int64 -> logits (B, S) read from h_T. If `hs` is given it
  /// receives h_1..h_T, each (B, H), still part of the graph.
  Tensor forward(const Tensor& tokens, std::vector<Tensor>* hs = nullptr) {
    const int64_t B = tokens.size(1);
    Tensor x = emb_(tokens);  // (T, B, E)
    Tensor h = torch::zeros({B, hidden_}, x.options());
    Tensor c = torch::zeros({B, hidden_}, x.options());
    // time is dim 0: one cell step per x_t (B, E)
    for (const Tensor& xt : x.unbind(0)) {
      if (rnn_) h = rnn_(xt, h);
      if (gru_) h = gru_(xt, h);
      if (lstm_) std::tie(h, c) = lstm_(xt, std::make_tuple(h, c));
      if (hs) hs->push_back(h);
    }
    return out_(h);  // (B, S)
  }

 private:
  std::string kind_;
  int64_t hidden_;
  torch::nn::Embedding emb_{nullptr};
  RNNCell rnn_{nullptr};
  LSTMCell lstm_{nullptr};
  GRUCell gru_{nullptr};
  torch::nn::Linear out_{nullptr};
};
TORCH_MODULE(RecallNet);

/// A batch of the recall task: tokens (T, B) uniform over the symbols, and the
/// target of each sequence: its first symbol (B).
std::pair<Tensor, Tensor> recall_batch(int64_t T, int64_t B, int64_t symbols,
                                       torch::Device device) {
  Tensor tokens = torch::randint(symbols, {T, B}, torch::dtype(torch::kInt64).device(device));
  return {tokens, tokens[0].clone()};
}

/// ||dL_b/dh_t|| for t = 1..T, averaged over the batch, where L_b is the
/// cross-entropy of sequence b (so the value does not depend on the batch size).
/// Also returns the mean loss. Computed in double precision, so that norms far
/// below float's range (1e-38) are still measured, not flushed to zero.
std::pair<std::vector<double>, double> grad_norms(RecallNet& net, const Tensor& tokens,
                                                  const Tensor& targets) {
  net->to(torch::kFloat64);
  std::vector<Tensor> hs;
  Tensor logits = net->forward(tokens, &hs);
  Tensor loss = torch::nn::functional::cross_entropy(
      logits, targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  std::vector<Tensor> grads = torch::autograd::grad({loss}, hs);
  // each grads[t] is (B, H): one row per sequence; norm per row, mean over rows
  Tensor norms = torch::stack(grads).norm(2, {2}).mean(1).to(torch::kFloat64).cpu();  // (T)
  std::vector<double> out(norms.data_ptr<double>(), norms.data_ptr<double>() + norms.numel());
  net->to(torch::kFloat32);  // float -> double -> float is exact
  return {out, loss.item<double>() / static_cast<double>(targets.size(0))};
}

double accuracy(RecallNet& net, int64_t n, const GradflowConfig::Gradflow& g,
                torch::Device device) {
  torch::NoGradGuard no_grad;
  int64_t correct = 0;
  for (int64_t done = 0; done < n; done += 256) {
    int64_t b = std::min<int64_t>(256, n - done);
    auto [tokens, targets] = recall_batch(g.steps, b, g.symbols, device);
    correct += net->forward(tokens).argmax(1).eq(targets).sum().item<int64_t>();
  }
  return static_cast<double>(correct) / static_cast<double>(n);
}

}  // namespace

std::vector<GradflowCurve> run_gradflow(const GradflowConfig& cfg, torch::Device device,
                                        const RunDir* dir) {
  StopSignals signals;  // Ctrl-C / SIGTERM end the run between updates
  StopSignals::clear();
  const auto& g = cfg.gradflow;
  // one measurement batch shared by every cell and both phases
  torch::manual_seed(static_cast<uint64_t>(cfg.run.seed));
  auto [probe_tokens, probe_targets] = recall_batch(g.steps, g.batch_size, g.symbols, device);

  std::vector<GradflowCurve> curves;
  for (const auto& kind : g.cells) {
    GradflowCurve curve;
    curve.cell = kind;
    // the same initial draw and training batches for every cell type
    torch::manual_seed(static_cast<uint64_t>(cfg.run.seed) + 1);
    RecallNet net(kind, g.symbols, g.embedding, g.hidden);
    net->to(device);
    std::tie(curve.init, curve.init_loss) = grad_norms(net, probe_tokens, probe_targets);
    logger()->info("{}: at init, ||dL/dh_t|| is {:.3e} at t=1 and {:.3e} at t={} ; loss {:.4f}",
                   kind, curve.init.front(), curve.init.back(), g.steps, curve.init_loss);
    curve.final_loss = curve.init_loss;
    if (g.train_steps > 0) {
      torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(g.lr));
      auto t0 = Clock::now();
      // curriculum: start short; lengthen by a quarter whenever the running
      // batch accuracy reaches promote_at (an RNN stalls where its memory ends)
      int64_t len = g.curriculum > 0 && g.curriculum < g.steps ? g.curriculum : g.steps;
      const double chance = 1.0 / static_cast<double>(g.symbols);
      double running = chance;
      // The framework's progress lines and metrics.jsonl records, one series per cell.
      std::unique_ptr<Progress> progress;
      if (dir) progress = std::make_unique<Progress>(*dir, "seqs", cfg.run.progress, kind);
      double win_loss = 0, win_seconds = 0;
      int64_t win_steps = 0;
      for (int64_t step = 1; step <= g.train_steps; ++step) {
        if (int sig = StopSignals::requested())
          throw Interrupted(fmt::format("stopped by signal {} while training {} (update {})", sig,
                                        kind, step - 1),
                            sig);
        auto t_step = Clock::now();
        auto [tokens, targets] = recall_batch(len, g.batch_size, g.symbols, device);
        Tensor logits = net->forward(tokens);  // (B, S)
        Tensor loss = torch::nn::functional::cross_entropy(logits, targets);
        opt.zero_grad();
        loss.backward();
        double gnorm = torch::nn::utils::clip_grad_norm_(net->parameters(),
                                                         g.clip_norm > 0 ? g.clip_norm : INFINITY);
        if (!std::isfinite(gnorm))
          throw RuntimeError(
              fmt::format("{}: gradient norm is {} at update {}; lower gradflow.lr "
                          "or set gradflow.clip_norm",
                          kind, gnorm, step));
        opt.step();
        double acc = logits.argmax(1).eq(targets).to(torch::kFloat64).mean().item<double>();
        running = 0.9 * running + 0.1 * acc;
        curve.batch_accuracy = acc;
        win_loss += loss.item<double>(), win_seconds += seconds_since(t_step), ++win_steps;
        if (progress)
          progress->bar(static_cast<double>(step) / g.train_steps, step, win_loss / win_steps,
                        win_steps * g.batch_size / std::max(1e-9, win_seconds), g.lr,
                        seconds_since(t0));
        if (step % g.log_every == 0 || step == g.train_steps) {
          TrainRecord r;
          r.step = step;
          r.epoch = 0;
          r.loss = win_loss / win_steps;
          r.metrics = {{"length", static_cast<double>(len)}, {"running_acc", running}};
          r.units_per_sec = win_steps * g.batch_size / std::max(1e-9, win_seconds);
          r.lr = g.lr;
          r.grad_norm = gnorm;
          r.train_seconds = seconds_since(t0);
          if (progress) {
            progress->log(r, {{"cell", kind}});
          } else {
            logger()->info("{} : Up. {} : length {} : loss {:.4f} : running acc {:.3f} : {:.1f}s",
                           kind, step, len, r.loss, running, r.train_seconds);
          }
          win_loss = 0, win_seconds = 0, win_steps = 0;
        }
        if (len < g.steps && running >= g.promote_at) {
          len = std::min(g.steps, len + std::max<int64_t>(1, len / 4));
          running = chance;
        }
      }
      curve.length = len;
      curve.train_seconds = seconds_since(t0);
      std::tie(curve.trained, curve.final_loss) = grad_norms(net, probe_tokens, probe_targets);
    }
    curve.accuracy = accuracy(net, g.eval_size, g, device);
    if (!curve.trained.empty())
      logger()->info(
          "{}: trained, ||dL/dh_t|| is {:.3e} at t=1 and {:.3e} at t={} ; loss {:.4f} ; trained up "
          "to length {} ; recall accuracy at length {}: {:.3f} (chance {:.3f})",
          kind, curve.trained.front(), curve.trained.back(), g.steps, curve.final_loss,
          curve.length, g.steps, curve.accuracy, 1.0 / static_cast<double>(g.symbols));
    curves.push_back(std::move(curve));
  }
  return curves;
}

std::string gradflow_csv(const std::vector<GradflowCurve>& curves) {
  std::string out = "t";
  size_t T = 0;
  for (const auto& c : curves) {
    out += "," + c.cell + "_init";
    if (!c.trained.empty()) out += "," + c.cell + "_trained";
    T = std::max(T, c.init.size());
  }
  out += "\n";
  for (size_t t = 0; t < T; ++t) {
    out += std::to_string(t + 1);
    for (const auto& c : curves) {
      out += fmt::format(",{:.6e}", t < c.init.size() ? c.init[t] : NAN);
      if (!c.trained.empty())
        out += fmt::format(",{:.6e}", t < c.trained.size() ? c.trained[t] : NAN);
    }
    out += "\n";
  }
  return out;
}

bool write_gradflow_plot(const RunDir& dir, const std::vector<GradflowCurve>& curves) {
  write_file_atomic(dir.file("gradflow.csv"), gradflow_csv(curves));
  static const std::map<std::string, std::string> colour = {
      {"rnn", "#d62728"}, {"lstm", "#1f77b4"}, {"gru", "#2ca02c"}};
  std::string plots;
  int column = 2;  // column 1 is t
  for (const auto& c : curves) {
    std::string lc = colour.count(c.cell) ? colour.at(c.cell) : "#000000";
    plots += fmt::format(
        "{}'gradflow.csv' using 1:{} with lines dt 2 lw 1.5 lc rgb '{}' title '{} init'",
        plots.empty() ? "" : ", \\\n     ", column++, lc, c.cell);
    if (!c.trained.empty())
      plots += fmt::format(
          ", \\\n     'gradflow.csv' using 1:{} with lines dt 1 lw 2.5 lc rgb '{}' title '{} "
          "trained'",
          column++, lc, c.cell);
  }
  std::string script =
      "set terminal svg size 900,540 dynamic background rgb 'white'\n"
      "set output 'gradflow.svg'\n"
      "set datafile separator ','\n"
      "set title 'gradient reaching each step: ||dL/dh_t||, loss at the last step only'\n"
      "set xlabel 'time step t'\n"
      "set ylabel '||dL/dh_t|| (mean over the batch)'\n"
      "set logscale y\n"
      "set format y '10^{%L}'\n"
      "set grid\n"
      "set key bottom right\n"
      "plot " +
      plots + "\n";
  write_file_atomic(dir.file("gradflow.gp"), script);
  return run_gnuplot(dir.file("gradflow.gp"), dir.path());
}

int gradflow_command(const TrainArgs& args) {
  GradflowConfig cfg;
  ConfigSchema schema;
  if (!prepare("gradflow", cfg, schema, args)) return 0;
  torch::Device device = resolve_device(cfg.run.device);
  seed_run(cfg.run);
  NewRun made = create_run_dir(schema, cfg.run, args);
  const RunDir& dir = made.dir;
  auto t0 = Clock::now();
  const auto& g = cfg.gradflow;
  logger()->info("run directory: {}", dir.path().string());
  logger()->info(
      "gradflow: recall the first of {} symbols (vocabulary {}), embedding {}, hidden {}, batch "
      "{}, {} Adam steps at lr {}, device {}",
      g.steps, g.symbols, g.embedding, g.hidden, g.batch_size, g.train_steps, g.lr, device.str());
  std::vector<GradflowCurve> curves = run_gradflow(cfg, device, &dir);
  bool plotted = write_gradflow_plot(dir, curves);

  nlohmann::json summary;
  for (const auto& c : curves) {
    summary[c.cell + "_init_grad_t1"] = c.init.front();
    summary[c.cell + "_init_grad_tT"] = c.init.back();
    if (!c.trained.empty()) {
      summary[c.cell + "_trained_grad_t1"] = c.trained.front();
      summary[c.cell + "_trained_grad_tT"] = c.trained.back();
    }
    summary[c.cell + "_init_loss"] = c.init_loss;
    summary[c.cell + "_final_loss"] = c.final_loss;
    summary[c.cell + "_accuracy"] = c.accuracy;
    summary[c.cell + "_last_batch_accuracy"] = c.batch_accuracy;
    summary[c.cell + "_curriculum_length"] = c.length;
    summary[c.cell + "_train_seconds"] = c.train_seconds;
  }
  summary["chance_accuracy"] = 1.0 / static_cast<double>(g.symbols);
  summary["steps"] = g.steps;
  summary["train_steps"] = g.train_steps;
  summary["wall_seconds"] = seconds_since(t0);
  dir.write_summary(summary);

  // The short result on stdout: t=1 vs t=T and the recall accuracy per cell.
  std::string table = fmt::format(
      "||dL/dh_t||: mean over {} sequences; trained to: the length the curriculum reached;\n"
      "accuracy: recall of the first symbol at length {} on {} fresh sequences (chance {:.3f})\n",
      g.batch_size, g.steps, g.eval_size, 1.0 / static_cast<double>(g.symbols));
  table += fmt::format("{:<6} {:>11} {:>11} {:>11} {:>11} {:>10} {:>9}\n", "cell", "init t=1",
                       fmt::format("init t={}", g.steps), "trained t=1",
                       fmt::format("trained t={}", g.steps), "trained to", "accuracy");
  for (const auto& c : curves)
    table += fmt::format("{:<6} {:>11.3e} {:>11.3e} {:>11} {:>11} {:>10} {:>9.3f}\n", c.cell,
                         c.init.front(), c.init.back(),
                         c.trained.empty() ? "-" : fmt::format("{:.3e}", c.trained.front()),
                         c.trained.empty() ? "-" : fmt::format("{:.3e}", c.trained.back()),
                         c.trained.empty() ? "-" : std::to_string(c.length), c.accuracy);
  std::cout << table << std::flush;
  write_file_atomic(dir.file("gradflow.txt"), table);
  logger()->info("wrote gradflow.csv{} in {} ({:.0f}s)",
                 plotted ? ", gradflow.svg" : " (gnuplot unavailable: no gradflow.svg)",
                 dir.path().string(), seconds_since(t0));
  return 0;
}

}  // namespace rnnlab::cells
