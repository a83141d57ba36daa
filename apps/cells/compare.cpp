// rnnlab-cells compare: the hand-written cells against torch::nn, output and
// gradient differences and timings (see task.h).
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
#include "apps/framework/experiment.h"
#include "apps/framework/signals.h"
#include "core/error.h"
#include "modules/recurrent.h"
#include "modules/rnn.h"

namespace fs = std::filesystem;
using torch::Tensor;

namespace rnnlab::cells {

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
                     Implementation impl) {
  const bool rnn = cell.rfind("rnn_", 0) == 0;
  RecurrentOptions o(from_string<CellType>(rnn ? "rnn" : cell), shape.input, shape.hidden);
  o.impl(impl)
      .nonlinearity(from_string<Nonlinearity>(cell == "rnn_relu" ? "relu" : "tanh"))
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
  Recurrent builtin = make_stack(cell, shape, cfg, Implementation::kBuiltin);
  Recurrent custom = make_stack(cell, shape, cfg, Implementation::kCustom);
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

namespace {

/// One comparison as a run of the framework, so that run.repeats measures it
/// N times (seeds seed, seed+1, ...) and the parent summary has the spread.
class CompareJob : public Job {
 public:
  explicit CompareJob(const CompareConfig& cfg)
      : cfg_(cfg), device_(resolve_device(cfg.run.device)) {}

  nlohmann::json run(const RunDir& dir, bool, const std::string& label,
                     const std::function<void(int64_t)>&) override {
    const CompareConfig& cfg = cfg_;
    auto t0 = Clock::now();
    logger()->info(
        "compare{}: {} on {}, {} layer(s){}, {} intra-op thread(s), {} warm-up runs, then at least "
        "{} timed runs and {} s per implementation",
        label.empty() ? "" : " (" + label + ")", cfg.compare.dtype, device_.str(),
        cfg.compare.layers, cfg.compare.bidirectional ? " bidirectional" : "",
        torch::get_num_threads(), cfg.compare.warmup, cfg.compare.repeats, cfg.compare.min_seconds);
    StopSignals signals;
    StopSignals::clear();
    // Each row is written as soon as it is measured, so that a run stopped
    // by a signal (or killed) keeps what it measured.
    std::vector<CompareRow> measured;
    std::vector<CompareRow> rows = run_compare(cfg, device_, [&](const CompareRow& r) {
      measured.push_back(r);
      write_file_atomic(dir.file("compare.csv"), compare_csv(measured));
      write_file_atomic(dir.file("compare.json"), compare_json(measured).dump(2) + "\n");
      logger()->info(
          "{} {}: max diff output {:.1e} grad {:.1e} : fwd {:.2f} / {:.2f} ms ({:.2f}x) : fwd+bwd "
          "{:.2f} / {:.2f} ms ({:.2f}x) : {} runs : {:.0f}s",
          r.cell, r.shape, r.max_abs_diff_output, r.max_abs_diff_grad, r.fwd_ms_custom,
          r.fwd_ms_builtin, r.fwd_ratio, r.fwdbwd_ms_custom, r.fwdbwd_ms_builtin, r.fwdbwd_ratio,
          r.runs, seconds_since(t0));
      if (int sig = StopSignals::requested())
        throw Interrupted(std::string("stopped by ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                              " after " + r.cell + " " + r.shape + "; the " +
                              std::to_string(measured.size()) + " rows measured are in " +
                              dir.file("compare.csv").string(),
                          sig);
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
      std::string id = r.cell + "_" + r.shape;
      summary["fwdbwd_ratio_" + id] = r.fwdbwd_ratio;
      summary["fwdbwd_ms_custom_" + id] = r.fwdbwd_ms_custom;
      summary["fwdbwd_ms_builtin_" + id] = r.fwdbwd_ms_builtin;
    }
    summary["max_abs_diff_output"] = worst_out;
    summary["max_abs_diff_grad"] = worst_grad;
    summary["max_fwdbwd_ratio"] = worst_ratio;
    summary["custom_at_most_builtin"] = worst_ratio <= 1.0;
    summary["rows"] = rows.size();
    summary["seed"] = cfg.run.seed;
    summary["threads"] = torch::get_num_threads();
    summary["wall_seconds"] = seconds_since(t0);
    dir.write_summary(summary);
    logger()->info(
        "worst fwd+bwd ratio custom/builtin {:.2f}; wrote compare.csv, compare.json in {} "
        "({:.0f}s)",
        worst_ratio, dir.path().string(), seconds_since(t0));
    return summary;
  }

 private:
  const CompareConfig& cfg_;
  torch::Device device_;
};

}  // namespace

int compare_command(const TrainArgs& args) {
  CompareConfig cfg;
  ConfigSchema schema;
  if (!prepare("compare", cfg, schema, args)) return 0;
  run_experiment(schema, cfg.run, args,
                 [&](const std::filesystem::path&) { return std::make_unique<CompareJob>(cfg); });
  return 0;
}

}  // namespace rnnlab::cells
