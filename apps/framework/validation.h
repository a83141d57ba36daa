// Validation bookkeeping any training loop can reuse: which metric decides,
// in which direction it improves, the best value so far, early stopping and
// the plateau learning-rate decay; plus the "[valid]" log line and record.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "apps/framework/config.h"
#include "apps/framework/progress.h"
#include "apps/framework/sections.h"
#include "apps/framework/training_state.h"

namespace rnnlab {

/// A validation metric a task computes, and which way is better.
struct MetricInfo {
  std::string name;  ///< bare name as evaluate() returns it: "loss", "accuracy"
  bool higher_is_better = false;
};

/// The early-stop metric the config asks for, resolved against the metrics a
/// task declares. `train.early_stop_metric` may be given with or without the
/// "val_" prefix; `train.early_stop_mode` auto takes the declared direction.
/// ConfigError naming the key (and where it was set, when `schema` is given)
/// and listing what is available, if the task has no such metric.
MetricInfo resolve_early_stop(const TrainSection& train, const std::vector<MetricInfo>& declared,
                              const ConfigSchema* schema = nullptr);

/// Best value, patience and plateau decay.
class BestTracker {
 public:
  BestTracker(MetricInfo metric, int64_t patience, int64_t plateau_patience, double decay_factor,
              bool plateau);

  struct Verdict {
    bool improved = false;
    bool stop = false;  ///< patience is used up
    std::string text;   ///< "new best" / "stalled 2 times"
  };
  /// Records the value of a validation at `step`.
  Verdict update(int64_t step, double value);

  const MetricInfo& metric() const { return metric_; }
  double best() const { return s_.best; }
  int64_t best_step() const { return s_.best_step; }
  int64_t bad_evals() const { return s_.bad_evals; }
  /// Factor the plateau schedule applies to the learning rate (1 until a decay).
  double lr_scale() const { return s_.lr_scale; }

  /// The whole state, for the training state a checkpoint holds.
  const ValidationState& state() const { return s_; }
  void set_state(const ValidationState& state) { s_ = state; }

 private:
  MetricInfo metric_;
  int64_t patience_, plateau_patience_;
  double decay_factor_;
  bool plateau_;
  ValidationState s_;
};

/// Logs "[valid] Ep. 2.00 : Up. 500 : loss 1.71 : ppl 5.53 : new best" and
/// appends the "valid" record to metrics.jsonl.
void log_validation(const RunDir& dir, int64_t step, double epoch, const Metrics& metrics,
                    const BestTracker::Verdict& verdict);

}  // namespace rnnlab
