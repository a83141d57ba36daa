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
  v.improved = std::isnan(best_) || (metric_.higher_is_better ? value > best_ : value < best_);
  if (v.improved) {
    best_ = value, best_step_ = step, bad_evals_ = 0, since_decay_ = 0;
    v.text = "new best";
    return v;
  }
  ++bad_evals_, ++since_decay_;
  v.text = fmt::format("stalled {} time{}", bad_evals_, bad_evals_ > 1 ? "s" : "");
  if (plateau_ && since_decay_ >= plateau_patience_) {
    lr_scale_ *= decay_factor_;
    since_decay_ = 0;
    v.text += fmt::format(", learning rate x{:g}", decay_factor_);
  }
  v.stop = patience_ > 0 && bad_evals_ >= patience_;
  return v;
}

torch::Tensor BestTracker::state() const {
  return torch::tensor({best_, static_cast<double>(best_step_), static_cast<double>(bad_evals_),
                        static_cast<double>(since_decay_), lr_scale_},
                       torch::kDouble);
}

void BestTracker::set_state(const torch::Tensor& state) {
  auto s = state.accessor<double, 1>();
  best_ = s[0], best_step_ = static_cast<int64_t>(s[1]), bad_evals_ = static_cast<int64_t>(s[2]);
  since_decay_ = static_cast<int64_t>(s[3]), lr_scale_ = s[4];
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
