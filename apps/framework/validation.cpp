// Validation bookkeeping (see validation.h).
#include "apps/framework/validation.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace rnnlab {

MetricInfo resolve_early_stop(const TrainSection& train, const std::vector<MetricInfo>& declared,
                              const ConfigSchema* schema) {
  const std::string& key = train.early_stop_metric;
  std::string bare = key.rfind("val_", 0) == 0 ? key.substr(4) : key;
  for (const auto& m : declared) {
    if (m.name != bare) continue;
    MetricInfo out = m;
    if (train.early_stop_mode != "auto") out.higher_is_better = train.early_stop_mode == "max";
    return out;
  }
  std::string avail;
  for (const auto& m : declared) avail += (avail.empty() ? "val_" : ", val_") + m.name;
  std::string msg = "'" + key + "' is not a validation metric of this app; available: " + avail;
  if (schema) throw schema->error("train.early_stop_metric", msg);
  throw ConfigError("key 'train.early_stop_metric': " + msg);
}

BestTracker::BestTracker(MetricInfo metric, int64_t patience, int64_t plateau_patience,
                         double decay_factor, bool plateau)
    : metric_(std::move(metric)),
      patience_(patience),
      plateau_patience_(std::max<int64_t>(1, plateau_patience)),
      decay_factor_(decay_factor),
      plateau_(plateau) {}

BestTracker::Verdict BestTracker::update(int64_t step, double value) {
  Verdict v;
  v.improved =
      std::isnan(s_.best) || (metric_.higher_is_better ? value > s_.best : value < s_.best);
  if (v.improved) {
    s_.best = value, s_.best_step = step, s_.bad_evals = 0, s_.since_decay = 0;
    v.text = "new best";
    return v;
  }
  ++s_.bad_evals, ++s_.since_decay;
  v.text = fmt::format("stalled {} time{}", s_.bad_evals, s_.bad_evals > 1 ? "s" : "");
  if (plateau_ && s_.since_decay >= plateau_patience_) {
    s_.lr_scale *= decay_factor_;
    s_.since_decay = 0;
    v.text += fmt::format(", learning rate x{:g}", decay_factor_);
  }
  v.stop = patience_ > 0 && s_.bad_evals >= patience_;
  return v;
}

void log_validation(const RunDir& dir, int64_t step, double epoch, const Metrics& metrics,
                    const BestTracker::Verdict& verdict) {
  logger()->info("[valid] Ep. {:.2f} : Up. {}{} : {}", epoch, step, format_metrics(metrics),
                 verdict.text);
  nlohmann::json rec = {
      {"type", "valid"}, {"step", step}, {"epoch", epoch}, {"best", verdict.improved}};
  for (const auto& [k, v] : metrics) rec[k] = v;
  dir.append_metrics(rec);
}

}  // namespace rnnlab
