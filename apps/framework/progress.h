// Training progress as a user sees it: one Marian-style line per logging
// window (also a "train" record of metrics.jsonl), and a live progress bar on
// a terminal. Any training loop uses it: the shared Trainer, the word2vec
// Hogwild trainer, the gradflow experiment.
//
//   Ep. 1.25 : Up. 500 : loss 1.5201 : ppl 4.5727 : 12.3k chars/s : L.r. 3.00e-03 : gnorm 0.82 :
//   00:01:23
#pragma once

#include <chrono>
#include <cmath>
#include <map>
#include <string>

#include "apps/framework/run_dir.h"

namespace rnnlab {

/// Named metric values, e.g. {"loss": 1.52, "ppl": 4.57, "bpc": 2.19}.
using Metrics = std::map<std::string, double>;

/// " : loss 1.2345 : bpc 1.7810 : ppl 3.4368" (loss first, then the rest by name).
std::string format_metrics(const Metrics& m);
/// 1234567 -> "1.2M", 12345 -> "12.3k", 123 -> "123".
std::string compact_number(double v);
/// Seconds as HH:MM:SS.
std::string hms(double seconds);

/// One logged training window.
struct TrainRecord {
  int64_t step = 0;  ///< updates done
  double epoch = 0;  ///< fractional epochs done
  double loss = 0;   ///< mean loss over the window's units
  Metrics metrics;   ///< derived from the loss (ppl, bpc...)
  double units_per_sec = 0;
  double lr = 0;
  double grad_norm = NAN;  ///< left out of the line and the record when NaN
  double train_seconds = 0;
};

class Progress {
 public:
  /// `unit_name`: what throughput counts ("chars", "tokens", "words");
  /// `mode`: run.progress (auto | bar | lines); `label`: which sub-run this is
  /// ("seed2 2/3"), shown in the bar, or "".
  Progress(const RunDir& dir, std::string unit_name, const std::string& mode, std::string label);

  /// Writes the line to the log and the record to metrics.jsonl (with the
  /// `tags` added to the record, e.g. {"cell": "lstm"}).
  void log(const TrainRecord& r, const nlohmann::json& tags = nlohmann::json::object());
  /// Redraws the bar (at most ten times a second): `fraction` of the run done.
  void bar(double fraction, int64_t step, double loss, double units_per_sec, double lr,
           double elapsed);
  /// Erases the bar, before other output.
  void clear();
  const std::string& unit_name() const { return unit_name_; }

 private:
  const RunDir& dir_;
  std::string unit_name_, label_;
  bool bar_ = false, drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace rnnlab
