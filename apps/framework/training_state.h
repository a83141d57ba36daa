// Where a training run stands, by name: the one record of a run's progress
// that every checkpoint carries, in the manner of Marian's training state
// (model.npz.progress.yml).
//
// A checkpoint holds the model, the engine's own parts (the optimizer's
// moments), the random generators' states and this record. The record is
// stored inside the checkpoint as YAML text, and written beside it as
// "<checkpoint>.yml" for people and scripts to read:
//
//   step: 1877                 # updates done
//   epoch: 3                   # the epoch being trained (0-based)
//   batch: 227                 # the next batch of that epoch
//   last_eval_step: 1877
//   units: 103235000           # units trained (tokens, images, words)
//   train_seconds: 2279.14
//   window: {loss: 0, seconds: 0, units: 0, steps: 0}   # the open logging window
//   validation: {best: 45.42, best_step: 1877, bad_evals: 0, since_decay: 0, lr_scale: 1}
//   last_loss: 1.674           # the last logged training loss
//   engine: {}                 # what the engine adds (word2vec Hogwild's cursor)
//
// Reading it back gives the same numbers bit for bit (doubles are written
// with 17 significant digits), so a resumed run continues exactly.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace rnnlab {

/// Best validation value, patience and the plateau schedule's decay.
struct ValidationState {
  double best = NAN;        ///< best value of the early-stop metric (NaN: none yet)
  int64_t best_step = -1;   ///< update it was reached at
  int64_t bad_evals = 0;    ///< validations since the best one
  int64_t since_decay = 0;  ///< validations since the last plateau decay
  double lr_scale = 1.0;    ///< factor the plateau schedule applies to the rate
};

/// Sums over the updates since the last "train" log line.
struct LogWindow {
  double loss = 0;  ///< sum of loss x units
  double seconds = 0;
  int64_t units = 0, steps = 0;
};

struct TrainingState {
  // Position: `step` updates done; the next batch is `batch` of epoch `epoch`.
  int64_t step = 0, epoch = 0, batch = 0;
  int64_t last_eval_step = -1;  ///< update of the last validation (-1: none)
  int64_t units = 0;            ///< units trained over the run
  double train_seconds = 0;     ///< training time, evaluation excluded
  LogWindow window;
  ValidationState validation;
  double last_loss = NAN;  ///< mean loss of the last logged window
  YAML::Node engine;       ///< the engine's own position (a map; empty for autograd)

  /// The record as YAML text (block style, comments naming each field).
  std::string to_yaml() const;
  /// Parses to_yaml()'s text; DataError naming `where` and the field when a
  /// field is missing or malformed.
  static TrainingState from_yaml(const std::string& text, const std::string& where);
};

}  // namespace rnnlab
