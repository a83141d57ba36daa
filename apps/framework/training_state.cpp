// The named training state (see training_state.h).
#include "apps/framework/training_state.h"

#include <fmt/format.h>

#include <limits>

#include "core/error.h"

namespace rnnlab {

std::string TrainingState::to_yaml() const {
  YAML::Emitter out;
  out.SetDoublePrecision(std::numeric_limits<double>::max_digits10);
  out << YAML::Comment("rnnlab training state: where this checkpoint's run stands")
      << YAML::Newline;
  out << YAML::BeginMap;
  out << YAML::Key << "step" << YAML::Value << step << YAML::Comment("updates done");
  out << YAML::Key << "epoch" << YAML::Value << epoch
      << YAML::Comment("epoch being trained, from 0");
  out << YAML::Key << "batch" << YAML::Value << batch << YAML::Comment("next batch of that epoch");
  out << YAML::Key << "last_eval_step" << YAML::Value << last_eval_step;
  out << YAML::Key << "units" << YAML::Value << units << YAML::Comment("units trained");
  out << YAML::Key << "train_seconds" << YAML::Value << train_seconds;
  out << YAML::Key << "window" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "loss" << YAML::Value << window.loss;
  out << YAML::Key << "seconds" << YAML::Value << window.seconds;
  out << YAML::Key << "units" << YAML::Value << window.units;
  out << YAML::Key << "steps" << YAML::Value << window.steps;
  out << YAML::EndMap << YAML::Comment("the open logging window");
  out << YAML::Key << "validation" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "best" << YAML::Value << validation.best;
  out << YAML::Key << "best_step" << YAML::Value << validation.best_step;
  out << YAML::Key << "bad_evals" << YAML::Value << validation.bad_evals;
  out << YAML::Key << "since_decay" << YAML::Value << validation.since_decay;
  out << YAML::Key << "lr_scale" << YAML::Value << validation.lr_scale;
  out << YAML::EndMap;
  out << YAML::Key << "last_loss" << YAML::Value << last_loss;
  out << YAML::Key << "engine" << YAML::Value;
  if (engine.IsMap() && engine.size() > 0)
    out << engine;
  else
    out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

TrainingState TrainingState::from_yaml(const std::string& text, const std::string& where) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw DataError(fmt::format("{}: the training state is not YAML ({})", where, e.what()));
  }
  if (!root.IsMap())
    throw DataError(fmt::format("{}: the training state is not a YAML map", where));
  auto field = [&](const YAML::Node& parent, const std::string& name, auto& value,
                   const std::string& prefix) {
    const std::string full = prefix + name;
    YAML::Node n = parent[name];
    if (!n) throw DataError(fmt::format("{}: the training state has no '{}'", where, full));
    try {
      value = n.as<std::decay_t<decltype(value)>>();
    } catch (const YAML::Exception&) {
      throw DataError(fmt::format("{}: the training state's '{}' is malformed", where, full));
    }
  };
  TrainingState s;
  field(root, "step", s.step, "");
  field(root, "epoch", s.epoch, "");
  field(root, "batch", s.batch, "");
  field(root, "last_eval_step", s.last_eval_step, "");
  field(root, "units", s.units, "");
  field(root, "train_seconds", s.train_seconds, "");
  field(root, "last_loss", s.last_loss, "");
  for (const char* part : {"window", "validation", "engine"})
    if (!root[part] || !root[part].IsMap())
      throw DataError(fmt::format("{}: the training state has no '{}' map", where, part));
  const YAML::Node w = root["window"], v = root["validation"];
  field(w, "loss", s.window.loss, "window.");
  field(w, "seconds", s.window.seconds, "window.");
  field(w, "units", s.window.units, "window.");
  field(w, "steps", s.window.steps, "window.");
  field(v, "best", s.validation.best, "validation.");
  field(v, "best_step", s.validation.best_step, "validation.");
  field(v, "bad_evals", s.validation.bad_evals, "validation.");
  field(v, "since_decay", s.validation.since_decay, "validation.");
  field(v, "lr_scale", s.validation.lr_scale, "validation.");
  s.engine = root["engine"];
  if (s.step < 0 || s.epoch < 0 || s.batch < 0 || s.units < 0)
    throw DataError(fmt::format("{}: the training state has a negative position", where));
  return s;
}

}  // namespace rnnlab
