// rnnlab-cells: custom-vs-builtin comparison and the vanishing-gradient
// experiment (see cells.h). Both commands write their results into a run
// directory: tables as CSV and JSON, plots through gnuplot, summary.json.
#include "apps/cells/cells.h"

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

#include "datasets/error.h"
#include "modules/recurrent.h"
#include "modules/rnn.h"

namespace fs = std::filesystem;
using torch::Tensor;

namespace rnnlab::cells {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Where a key's value came from ("compare.yaml:5", "--set", "default").
std::string where_of(const ConfigSchema& s, const std::string& key) {
  const ConfigField* f = s.find(key);
  return f ? f->source : "";
}

std::string key_with_source(const std::string& key, const std::string& where) {
  return "key '" + key + "'" + (where.empty() || where == "default" ? "" : " (" + where + ")");
}

// Every entry of `values` must be one of `allowed`, and the list must not be empty.
void check_names(const std::vector<std::string>& values, const std::vector<std::string>& allowed,
                 const std::string& key, const std::string& where) {
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  if (values.empty())
    throw ConfigError(key_with_source(key, where) + ": the list is empty; allowed: " + list);
  for (const auto& v : values)
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end())
      throw ConfigError(key_with_source(key, where) + ": entry '" + v +
                        "' is not allowed; allowed: " + list);
}

void sync(torch::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

}  // namespace

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ compare ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

std::string Shape::str() const {
  return fmt::format("{}x{}x{}x{}", batch, steps, input, hidden);
}

Shape parse_shape(const std::string& text, const std::string& key, const std::string& where) {
  auto bad = [&]() {
    return ConfigError(key_with_source(key, where) + ": bad shape '" + text +
                       "'; expected BxTxIxH (batch x steps x input x hidden), e.g. 64x100x256x512");
  };
  std::vector<int64_t> dims;
  std::string part;
  std::istringstream in(text + "x");
  while (std::getline(in, part, 'x')) {
    if (part.empty() || part.size() > 9 ||
        part.find_first_not_of("0123456789") != std::string::npos)
      throw bad();
    dims.push_back(std::stoll(part));
    if (dims.back() <= 0) throw bad();
  }
  if (dims.size() != 4) throw bad();
  return Shape{dims[0], dims[1], dims[2], dims[3]};
}

void CompareConfig::bind(ConfigSchema& s) {
  s.add("compare.cells", &compare.cells, "cell types to compare (rnn_tanh, rnn_relu, lstm, gru)");
  s.add("compare.shapes", &compare.shapes,
        "shapes BxTxIxH (batch x steps x input x hidden), e.g. 64x100x256x512");
  s.add("compare.layers", &compare.layers, "stacked layers").range(1, 16);
  s.add("compare.bidirectional", &compare.bidirectional, "also run a reversed direction");
  s.add("compare.dtype", &compare.dtype, "floating-point type of weights and inputs")
      .choices({"float", "double"});
  s.add("compare.warmup", &compare.warmup,
        "untimed forward and forward+backward passes per implementation before timing")
      .range(0, 1000);
  s.add("compare.repeats", &compare.repeats,
        "timed runs of forward and of forward+backward per implementation (median reported)")
      .range(1, 1000);
  s.add("compare.min_seconds", &compare.min_seconds,
        "keep timing past repeats until each implementation's timed forward+backward runs add "
        "up to this (at most 100 x repeats runs)")
      .range(0.0, 3600.0);
  run.bind(s);
}

void CompareConfig::validate(const ConfigSchema& s) const {
  check_names(compare.cells, {"rnn_tanh", "rnn_relu", "lstm", "gru"}, "compare.cells",
              where_of(s, "compare.cells"));
  if (compare.shapes.empty())
    throw ConfigError(key_with_source("compare.shapes", where_of(s, "compare.shapes")) +
                      ": the list is empty; give at least one BxTxIxH shape");
  for (const auto& shape : compare.shapes)
    parse_shape(shape, "compare.shapes", where_of(s, "compare.shapes"));
}

namespace {

// Builds one stack of `cell` type ("rnn_tanh", "lstm", ...) with implementation `impl`.
Recurrent make_stack(const std::string& cell, const Shape& shape, const CompareConfig& cfg,
                     const std::string& impl) {
  bool rnn = cell.rfind("rnn_", 0) == 0;
  RecurrentOptions o(rnn ? "rnn" : cell, shape.input, shape.hidden);
  o.impl(impl)
      .nonlinearity(cell == "rnn_relu" ? "relu" : "tanh")
      .num_layers(cfg.compare.layers)
      .bidirectional(cfg.compare.bidirectional);
  return Recurrent(o);
}

// Copies every parameter of `from` into the parameter of the same name of `to`.
void copy_parameters(const Recurrent& from, Recurrent& to) {
  torch::NoGradGuard no_grad;
  auto dst = to->named_parameters();
  for (const auto& p : from->named_parameters()) {
    Tensor* t = dst.find(p.key());
    if (!t)
      throw RuntimeError("compare: the custom module has no parameter '" + p.key() +
                         "' of the built-in one");
    t->copy_(p.value());
  }
  if (dst.size() != from->named_parameters().size())
    throw RuntimeError("compare: the custom and built-in modules have different parameter sets");
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  if (!a.defined() && !b.defined()) return 0.0;
  if (!a.defined() || !b.defined()) return INFINITY;
  return (a - b).abs().max().item<double>();
}

// The fixed random weights the outputs are summed with: loss = sum(y*w_y) + sum(h*w_h) (+ c).
struct LossWeights {
  Tensor out, h, c;
};

Tensor weighted_loss(const Tensor& out, const RecurrentState& st, const LossWeights& w) {
  // out (T, B, D*H), st.h (L*D, B, H), st.c (L*D, B, H) for LSTM
  Tensor loss = (out * w.out).sum() + (st.h * w.h).sum();
  if (st.c.defined()) loss = loss + (st.c * w.c).sum();
  return loss;
}

CompareRow compare_one(const std::string& cell, const Shape& shape, const CompareConfig& cfg,
                       torch::Device device) {
  auto dtype = cfg.compare.dtype == "double" ? torch::kFloat64 : torch::kFloat32;
  auto topt = torch::TensorOptions().dtype(dtype).device(device);
  Recurrent builtin = make_stack(cell, shape, cfg, "builtin");
  Recurrent custom = make_stack(cell, shape, cfg, "custom");
  builtin->to(device, dtype);
  custom->to(device, dtype);
  copy_parameters(builtin, custom);

  // x is (T, B, I); the loss weights match the output (T, B, D*H) and final states.
  const int64_t T = shape.steps, B = shape.batch, D = cfg.compare.bidirectional ? 2 : 1;
  Tensor x = torch::randn({T, B, shape.input}, topt);
  LossWeights w;
  w.out = torch::randn({T, B, D * shape.hidden}, topt);
  w.h = torch::randn({cfg.compare.layers * D, B, shape.hidden}, topt);
  w.c = torch::randn({cfg.compare.layers * D, B, shape.hidden}, topt);

  // ---- correctness: same weights, same input ----
  CompareRow row;
  row.cell = cell;
  row.shape = shape.str();
  Tensor xb = x.clone().requires_grad_(true), xc = x.clone().requires_grad_(true);
  auto [out_b, st_b] = builtin->forward(xb);
  auto [out_c, st_c] = custom->forward(xc);
  row.max_abs_diff_output = max_abs_diff(out_b, out_c);
  row.max_abs_diff_state =
      std::max(max_abs_diff(st_b.h, st_c.h), st_b.c.defined() ? max_abs_diff(st_b.c, st_c.c) : 0.0);
  weighted_loss(out_b, st_b, w).backward();
  weighted_loss(out_c, st_c, w).backward();
  double dgrad = max_abs_diff(xb.grad(), xc.grad());
  auto custom_params = custom->named_parameters();
  for (const auto& p : builtin->named_parameters())
    dgrad = std::max(dgrad, max_abs_diff(p.value().grad(), custom_params[p.key()].grad()));
  row.max_abs_diff_grad = dgrad;

  // ---- timing: forward (no grad) and forward+backward, interleaved ----
  Tensor xt = x.clone().requires_grad_(true);
  auto fwd = [&](Recurrent& m) {
    torch::NoGradGuard no_grad;
    sync(device);
    auto t0 = Clock::now();
    auto result = m->forward(xt);
    sync(device);
    return 1e3 * seconds_since(t0);
  };
  auto fwdbwd = [&](Recurrent& m) {
    m->zero_grad();
    xt.mutable_grad() = Tensor();
    sync(device);
    auto t0 = Clock::now();
    auto [out, st] = m->forward(xt);
    weighted_loss(out, st, w).backward();
    sync(device);
    return 1e3 * seconds_since(t0);
  };
  for (int64_t i = 0; i < cfg.compare.warmup; ++i)
    for (Recurrent* m : {&builtin, &custom}) {
      fwd(*m);
      fwdbwd(*m);
    }
  std::vector<double> fb, fc, fbb, fbc;
  // at least `repeats` runs, more while the timed forward+backward time of either
  // implementation is under min_seconds (small shapes: many cheap runs, stable medians)
  double spent_b = 0, spent_c = 0;
  for (int64_t i = 0;
       i < cfg.compare.repeats || (std::min(spent_b, spent_c) < 1e3 * cfg.compare.min_seconds &&
                                   i < 100 * cfg.compare.repeats);
       ++i) {
    // alternate which implementation goes first, so drifts in machine load hit both alike
    bool builtin_first = i % 2 == 0;
    for (int k = 0; k < 2; ++k) {
      if ((k == 0) == builtin_first) {
        fb.push_back(fwd(builtin));
        fbb.push_back(fwdbwd(builtin));
        spent_b += fbb.back();
      } else {
        fc.push_back(fwd(custom));
        fbc.push_back(fwdbwd(custom));
        spent_c += fbc.back();
      }
    }
  }
  row.runs = static_cast<int64_t>(fb.size());
  row.fwd_ms_builtin = median(fb);
  row.fwd_ms_custom = median(fc);
  row.fwdbwd_ms_builtin = median(fbb);
  row.fwdbwd_ms_custom = median(fbc);
  row.fwd_ratio = row.fwd_ms_custom / row.fwd_ms_builtin;
  row.fwdbwd_ratio = row.fwdbwd_ms_custom / row.fwdbwd_ms_builtin;
  return row;
}

}  // namespace

std::vector<CompareRow> run_compare(const CompareConfig& cfg, torch::Device device,
                                    const std::function<void(const CompareRow&)>& progress) {
  std::vector<CompareRow> rows;
  for (const auto& shape_text : cfg.compare.shapes) {
    Shape shape = parse_shape(shape_text, "compare.shapes");
    for (const auto& cell : cfg.compare.cells) {
      rows.push_back(compare_one(cell, shape, cfg, device));
      if (progress) progress(rows.back());
    }
  }
  return rows;
}

std::string compare_table(const std::vector<CompareRow>& rows) {
  size_t shape_w = 7;
  for (const auto& r : rows) shape_w = std::max(shape_w, r.shape.size());
  const char* head =
      "{:<8} {:<{}} {:>9} {:>9} {:>9} | {:>9} {:>9} {:>5} | {:>9} {:>9} {:>5} | {:>4}\n";
  std::string out =
      fmt::format(head, "cell", "shape", shape_w, "max|dy|", "max|dh|", "max|dg|", "fwd cust",
                  "fwd bltn", "ratio", "f+b cust", "f+b bltn", "ratio", "runs");
  out += fmt::format(head, "", "BxTxIxH", shape_w, "output", "state", "grads", "ms", "ms", "", "ms",
                     "ms", "", "");
  out += std::string(out.find('\n'), '-') + "\n";
  for (const auto& r : rows)
    out += fmt::format(
        "{:<8} {:<{}} {:>9.1e} {:>9.1e} {:>9.1e} | {:>9.2f} {:>9.2f} {:>5.2f} | {:>9.2f} {:>9.2f} "
        "{:>5.2f} | {:>4}\n",
        r.cell, r.shape, shape_w, r.max_abs_diff_output, r.max_abs_diff_state, r.max_abs_diff_grad,
        r.fwd_ms_custom, r.fwd_ms_builtin, r.fwd_ratio, r.fwdbwd_ms_custom, r.fwdbwd_ms_builtin,
        r.fwdbwd_ratio, r.runs);
  return out;
}

nlohmann::json compare_json(const std::vector<CompareRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows)
    out.push_back({{"cell", r.cell},
                   {"shape", r.shape},
                   {"max_abs_diff_output", r.max_abs_diff_output},
                   {"max_abs_diff_state", r.max_abs_diff_state},
                   {"max_abs_diff_grad", r.max_abs_diff_grad},
                   {"fwd_ms_custom", r.fwd_ms_custom},
                   {"fwd_ms_builtin", r.fwd_ms_builtin},
                   {"fwd_ratio", r.fwd_ratio},
                   {"fwdbwd_ms_custom", r.fwdbwd_ms_custom},
                   {"fwdbwd_ms_builtin", r.fwdbwd_ms_builtin},
                   {"fwdbwd_ratio", r.fwdbwd_ratio},
                   {"runs", r.runs}});
  return out;
}

std::string compare_csv(const std::vector<CompareRow>& rows) {
  std::string out =
      "cell,shape,max_abs_diff_output,max_abs_diff_state,max_abs_diff_grad,fwd_ms_custom,"
      "fwd_ms_builtin,fwd_ratio,fwdbwd_ms_custom,fwdbwd_ms_builtin,fwdbwd_ratio,runs\n";
  for (const auto& r : rows)
    out += fmt::format("{},{},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{}\n",
                       r.cell, r.shape, r.max_abs_diff_output, r.max_abs_diff_state,
                       r.max_abs_diff_grad, r.fwd_ms_custom, r.fwd_ms_builtin, r.fwd_ratio,
                       r.fwdbwd_ms_custom, r.fwdbwd_ms_builtin, r.fwdbwd_ratio, r.runs);
  return out;
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ gradflow ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

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

std::vector<GradflowCurve> run_gradflow(const GradflowConfig& cfg, torch::Device device) {
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
      for (int64_t step = 1; step <= g.train_steps; ++step) {
        auto [tokens, targets] = recall_batch(len, g.batch_size, g.symbols, device);
        Tensor logits = net->forward(tokens);  // (B, S)
        Tensor loss = torch::nn::functional::cross_entropy(logits, targets);
        opt.zero_grad();
        loss.backward();
        if (g.clip_norm > 0) torch::nn::utils::clip_grad_norm_(net->parameters(), g.clip_norm);
        opt.step();
        double acc = logits.argmax(1).eq(targets).to(torch::kFloat64).mean().item<double>();
        running = 0.9 * running + 0.1 * acc;
        curve.batch_accuracy = acc;
        if (step % g.log_every == 0 || step == g.train_steps)
          logger()->info("{} : Up. {} : length {} : loss {:.4f} : running acc {:.3f} : {:.1f}s",
                         kind, step, len, loss.item<double>(), running, seconds_since(t0));
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
  std::string cmd = "cd '" + dir.path().string() + "' && gnuplot gradflow.gp >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ command line ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

CLI::App* add_config_command(CLI::App& cli, const std::string& name, TrainArgs& args,
                             const std::string& description) {
  CLI::App* cmd = cli.add_subcommand(name, description);
  cmd->add_option("config", args.config, "experiment YAML file (experiments/cells/...)");
  cmd->add_option("--set", args.sets, "override a config key: --set compare.repeats=3 (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  cmd->add_option("--run-dir", args.run_dir,
                  "run directory to create (default: <run.dir>/<experiment>/<timestamp>)");
  cmd->add_flag("--print-config", args.print_config,
                "print the fully resolved config and exit without running");
  cmd->add_flag("--list-keys", args.list_keys,
                "list every config key with its type, default and meaning, and exit");
  return cmd;
}

namespace {

/// Loads and checks the config of command `name`; returns false when the
/// command is done (--list-keys, --print-config).
template <class Config>
bool prepare(const std::string& name, Config& cfg, ConfigSchema& schema, const TrainArgs& args) {
  cfg.bind(schema);
  if (args.list_keys) {
    std::cout << keys_table(schema);
    return false;
  }
  if (args.config.empty()) throw UsageError(name + ": a config file is required (see --help)");
  load_config(schema, args);
  cfg.validate(schema);
  if (args.print_config) {
    std::cout << schema.to_yaml();
    return false;
  }
  return true;
}

}  // namespace

int compare_command(const TrainArgs& args) {
  CompareConfig cfg;
  ConfigSchema schema;
  if (!prepare("compare", cfg, schema, args)) return 0;
  torch::Device device = resolve_device(cfg.run.device);
  RunDir dir = start_run(schema, cfg.run, args);
  auto t0 = Clock::now();
  logger()->info("run directory: {}", dir.path().string());
  logger()->info(
      "compare: {} on {}, {} layer(s){}, {} intra-op thread(s), {} warm-up runs, then at least {} "
      "timed runs and {} s per implementation",
      cfg.compare.dtype, device.str(), cfg.compare.layers,
      cfg.compare.bidirectional ? " bidirectional" : "", torch::get_num_threads(),
      cfg.compare.warmup, cfg.compare.repeats, cfg.compare.min_seconds);
  std::vector<CompareRow> rows = run_compare(cfg, device, [&](const CompareRow& r) {
    logger()->info(
        "{} {}: max diff output {:.1e} grad {:.1e} : fwd {:.2f} / {:.2f} ms ({:.2f}x) : fwd+bwd "
        "{:.2f} / {:.2f} ms ({:.2f}x) : {} runs : {:.0f}s",
        r.cell, r.shape, r.max_abs_diff_output, r.max_abs_diff_grad, r.fwd_ms_custom,
        r.fwd_ms_builtin, r.fwd_ratio, r.fwdbwd_ms_custom, r.fwdbwd_ms_builtin, r.fwdbwd_ratio,
        r.runs, seconds_since(t0));
  });
  std::string table = compare_table(rows);
  std::cout << table << std::flush;
  write_file_atomic(dir.file("compare.txt"), table);
  write_file_atomic(dir.file("compare.csv"), compare_csv(rows));
  write_file_atomic(dir.file("compare.json"), compare_json(rows).dump(2) + "\n");

  nlohmann::json summary;
  double worst_out = 0, worst_grad = 0, worst_ratio = 0;
  for (const auto& r : rows) {
    worst_out = std::max(worst_out, r.max_abs_diff_output);
    worst_grad = std::max(worst_grad, r.max_abs_diff_grad);
    worst_ratio = std::max(worst_ratio, r.fwdbwd_ratio);
    summary["fwdbwd_ratio_" + r.cell + "_" + r.shape] = r.fwdbwd_ratio;
  }
  summary["max_abs_diff_output"] = worst_out;
  summary["max_abs_diff_grad"] = worst_grad;
  summary["max_fwdbwd_ratio"] = worst_ratio;
  summary["custom_at_most_builtin"] = worst_ratio <= 1.0;
  summary["rows"] = rows.size();
  summary["threads"] = torch::get_num_threads();
  summary["wall_seconds"] = seconds_since(t0);
  dir.write_summary(summary);
  logger()->info(
      "worst fwd+bwd ratio custom/builtin {:.2f}; wrote compare.csv, compare.json in {} ({:.0f}s)",
      worst_ratio, dir.path().string(), seconds_since(t0));
  return 0;
}

int gradflow_command(const TrainArgs& args) {
  GradflowConfig cfg;
  ConfigSchema schema;
  if (!prepare("gradflow", cfg, schema, args)) return 0;
  torch::Device device = resolve_device(cfg.run.device);
  RunDir dir = start_run(schema, cfg.run, args);
  auto t0 = Clock::now();
  const auto& g = cfg.gradflow;
  logger()->info("run directory: {}", dir.path().string());
  logger()->info(
      "gradflow: recall the first of {} symbols (vocabulary {}), embedding {}, hidden {}, batch "
      "{}, {} Adam steps at lr {}, device {}",
      g.steps, g.symbols, g.embedding, g.hidden, g.batch_size, g.train_steps, g.lr, device.str());
  std::vector<GradflowCurve> curves = run_gradflow(cfg, device);
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
