// rnnlab-cells: the hand-written cells (modules/rnn.h) against torch::nn, and
// the vanishing-gradient experiment.
//
//   compare:  for every cell type and shape, the largest difference between
//             custom and built-in outputs, states and gradients (same weights,
//             same input), and the median time of forward and forward+backward.
//   gradflow: ||dL/dh_t|| for every step t of a long sequence whose loss sits
//             at the last step only, for RNN, LSTM and GRU cells unrolled by
//             hand, at initialisation and after training on "recall the first
//             symbol".
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/framework/app.h"

namespace rnnlab::cells {

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ compare ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

/// One benchmark shape: batch B, steps T, input features I, hidden units H.
struct Shape {
  int64_t batch = 0, steps = 0, input = 0, hidden = 0;
  /// "BxTxIxH", the form the config uses.
  std::string str() const;
};

/// Parses "BxTxIxH" (four positive integers). Throws ConfigError naming `key`
/// (and `where` the value came from, if not empty) and the bad entry.
Shape parse_shape(const std::string& text, const std::string& key, const std::string& where = "");

/// The config of `rnnlab-cells compare` (experiments/cells/compare.yaml).
struct CompareConfig {
  RunSection run;
  struct Compare {
    std::vector<std::string> cells{"rnn_tanh", "rnn_relu", "lstm", "gru"};
    std::vector<std::string> shapes{"64x100x256x512", "32x35x128x128"};
    int64_t layers = 1;
    bool bidirectional = false;
    std::string dtype = "float";  // float | double
    int64_t warmup = 2;
    int64_t repeats = 7;
    double min_seconds = 2.0;  // keep timing until the timed fwd+bwd runs add up to this
  } compare;

  void bind(ConfigSchema& s);
  /// Checks what the schema cannot (cell names, shape strings); throws
  /// ConfigError with the key, where it was set and the bad entry.
  void validate(const ConfigSchema& s) const;
};

/// One row of the comparison: one cell type at one shape.
struct CompareRow {
  std::string cell;                ///< rnn_tanh | rnn_relu | lstm | gru
  std::string shape;               ///< BxTxIxH
  double max_abs_diff_output = 0;  ///< max |y_custom - y_builtin| over the output sequence
  double max_abs_diff_state = 0;   ///< ... over the final h (and c)
  double max_abs_diff_grad = 0;    ///< ... over dL/dx and dL/dparameter for every parameter
  double fwd_ms_custom = 0, fwd_ms_builtin = 0;        ///< median forward time (no grad)
  double fwdbwd_ms_custom = 0, fwdbwd_ms_builtin = 0;  ///< median forward+backward time
  double fwd_ratio = 0;                                ///< fwd_ms_custom / fwd_ms_builtin
  double fwdbwd_ratio = 0;                             ///< fwdbwd_ms_custom / fwdbwd_ms_builtin
  int64_t runs = 0;  ///< timed runs per implementation (the medians are over these)
};

/// Runs the comparison for every cell and shape of `cfg` on `device`; `progress`
/// (if set) is called with each finished row.
std::vector<CompareRow> run_compare(const CompareConfig& cfg, torch::Device device,
                                    const std::function<void(const CompareRow&)>& progress = {});

/// The rows as an aligned text table (one header line, a rule, one line per row).
std::string compare_table(const std::vector<CompareRow>& rows);
/// The rows as CSV with a header line.
std::string compare_csv(const std::vector<CompareRow>& rows);
/// The rows as a JSON array, one object per row.
nlohmann::json compare_json(const std::vector<CompareRow>& rows);

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ gradflow ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

/// The config of `rnnlab-cells gradflow` (experiments/cells/gradflow.yaml).
struct GradflowConfig {
  RunSection run;
  struct Gradflow {
    std::vector<std::string> cells{"rnn", "lstm", "gru"};
    int64_t steps = 100;      // sequence length T
    int64_t symbols = 8;      // vocabulary of the random sequences
    int64_t embedding = 16;   // symbol embedding size (the cells' input)
    int64_t hidden = 64;      // hidden units
    int64_t batch_size = 32;  // sequences per training step and per measurement
    int64_t train_steps = 2000;
    double lr = 3e-3;         // Adam learning rate
    double clip_norm = 1.0;   // clip the global gradient norm (0: off)
    int64_t curriculum = 10;  // first training length (0: always steps)
    double promote_at = 0.9;  // running accuracy that lengthens the sequences by a quarter
    int64_t eval_size = 512;  // fresh sequences for the final accuracy
    int64_t log_every = 100;
  } gradflow;

  void bind(ConfigSchema& s);
  /// Checks the cell names; throws ConfigError naming the key and the bad entry.
  void validate(const ConfigSchema& s) const;
};

/// The gradient norms of one cell type, at initialisation and after training.
struct GradflowCurve {
  std::string cell;             ///< rnn | lstm | gru
  std::vector<double> init;     ///< T values: mean over the batch of ||dL_b/dh_t||, t = 1..T
  std::vector<double> trained;  ///< the same after training (empty if train_steps is 0)
  double init_loss = 0, final_loss = 0;  ///< cross-entropy on the measurement batch
  double accuracy = 0;        ///< recall accuracy on eval_size fresh sequences after training
  double batch_accuracy = 0;  ///< accuracy on the last training batch
  int64_t length = 0;         ///< training length the curriculum reached
  double train_seconds = 0;
};

/// Runs the experiment for every cell of `cfg` on `device`. With `dir`, the
/// training lines go through the framework's Progress (log, bar and
/// metrics.jsonl records tagged with the cell).
std::vector<GradflowCurve> run_gradflow(const GradflowConfig& cfg, torch::Device device,
                                        const RunDir* dir = nullptr);

/// CSV: a column t, then one column per cell and phase (rnn_init, rnn_trained...).
std::string gradflow_csv(const std::vector<GradflowCurve>& curves);
/// Writes gradflow.csv and gradflow.gp into `dir` and renders gradflow.svg with
/// gnuplot (log-scale y; one colour per cell, init dashed, trained solid).
/// Returns false if gnuplot is unavailable (the .gp file is kept).
bool write_gradflow_plot(const RunDir& dir, const std::vector<GradflowCurve>& curves);

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ command line ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

/// `rnnlab-cells compare`: the whole command; returns the exit code.
int compare_command(const TrainArgs& args);
/// `rnnlab-cells gradflow`: the whole command; returns the exit code.
int gradflow_command(const TrainArgs& args);

}  // namespace rnnlab::cells
