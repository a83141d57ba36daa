// Reading finished runs back: summaries, curves, configs; parent summaries.
#include "results/results.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace fs = std::filesystem;

namespace rnnlab {

namespace {

/// Reads a whole file into `out`; false if it cannot be opened.
bool slurp(const fs::path& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

/// A JSON number that is not a bool (nlohmann keeps bools apart already).
bool is_plain_number(const nlohmann::json& v) {
  return v.is_number() && !v.is_boolean();
}

void flatten(const YAML::Node& node, const std::string& prefix,
             std::map<std::string, std::string>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      flatten(kv.second, prefix.empty() ? key : prefix + "." + key, out);
    }
    return;
  }
  if (prefix.empty()) return;  // a bare top-level scalar: nothing to name
  if (node.IsScalar()) {
    out[prefix] = node.Scalar();
  } else if (node.IsNull() || !node.IsDefined()) {
    out[prefix] = "null";
  } else {  // a sequence: one line, flow style
    YAML::Node copy = YAML::Clone(node);
    copy.SetStyle(YAML::EmitterStyle::Flow);
    YAML::Emitter em;
    em << copy;
    out[prefix] = em.c_str();
  }
}

/// `value` with each mention of the run directory `dir` (as given, absolute or
/// canonical) replaced by kRunDir.
std::string replace_run_dir(std::string value, const fs::path& dir) {
  std::error_code ec;
  std::vector<std::string> forms;
  for (const fs::path& p :
       {dir, fs::absolute(dir, ec).lexically_normal(), fs::weakly_canonical(dir, ec)}) {
    std::string f = p.string();
    while (f.size() > 1 && f.back() == '/') f.pop_back();
    // Only real paths: "." or a bare name would match unrelated text.
    if (f.find('/') == std::string::npos || f == "/") continue;
    forms.push_back(f);
  }
  std::sort(forms.begin(), forms.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  const std::string placeholder = kRunDir;
  for (const auto& f : forms) {
    for (size_t at = value.find(f); at != std::string::npos;
         at = value.find(f, at + placeholder.size()))
      value.replace(at, f.size(), placeholder);
  }
  return value;
}

}  // namespace

nlohmann::json aggregate_summaries(
    const std::vector<std::pair<std::string, nlohmann::json>>& runs) {
  nlohmann::json names = nlohmann::json::array();
  std::vector<const nlohmann::json*> finished;
  for (const auto& [name, summary] : runs) {
    names.push_back(name);
    if (summary.is_object()) finished.push_back(&summary);
  }
  nlohmann::json out = nlohmann::json::object();
  out["runs"] = names;
  out["runs_finished"] = static_cast<int64_t>(finished.size());
  if (finished.empty()) return out;

  for (const auto& [key, first] : finished.front()->items()) {
    if (!is_plain_number(first)) continue;
    std::vector<double> values;
    bool all_integers = true;
    for (const nlohmann::json* s : finished) {
      auto it = s->find(key);
      if (it == s->end() || !is_plain_number(*it)) break;
      values.push_back(it->get<double>());
      all_integers = all_integers && it->is_number_integer();
    }
    if (values.size() != finished.size()) continue;  // missing in some run

    const double n = static_cast<double>(values.size());
    double sum = 0;
    for (double v : values) sum += v;
    const double mean = sum / n;
    double squares = 0;  // two passes: no cancellation for values far from 0
    for (double v : values) squares += (v - mean) * (v - mean);
    const double std = values.size() > 1 ? std::sqrt(squares / (n - 1)) : 0.0;
    out[key + "_mean"] = mean;
    out[key + "_std"] = std;
    auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    if (all_integers) {
      out[key + "_min"] = static_cast<int64_t>(*lo);
      out[key + "_max"] = static_cast<int64_t>(*hi);
    } else {
      out[key + "_min"] = *lo;
      out[key + "_max"] = *hi;
    }
  }
  return out;
}

std::map<std::string, std::string> flatten_config(const fs::path& config_yaml) {
  std::string text;
  if (!slurp(config_yaml, text)) throw DataError("cannot open '" + config_yaml.string() + "'");
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw DataError("'" + config_yaml.string() + "' is not valid YAML: " + e.what());
  }
  if (!root.IsNull() && !root.IsMap())
    throw DataError("'" + config_yaml.string() + "' is not a YAML mapping of keys");
  std::map<std::string, std::string> out;
  flatten(root, "", out);
  return out;
}

std::vector<std::string> resumed_overrides(const fs::path& run_dir) {
  const fs::path file = run_dir / "resumed.yaml";
  std::string text;
  std::error_code ec;
  if (!fs::exists(file, ec)) return {};
  if (!slurp(file, text)) throw DataError("cannot open '" + file.string() + "'");
  YAML::Node entries;
  try {
    entries = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw DataError(file.string() + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  const std::string bad =
      "'" + file.string() + "' is not a list of resumptions ({time, step, set})";
  if (entries.IsNull()) return {};
  if (!entries.IsSequence()) throw DataError(bad);
  std::vector<std::string> sets;
  for (const auto& entry : entries) {
    if (!entry.IsMap()) throw DataError(bad);
    const YAML::Node set = entry["set"];
    if (!set) continue;
    if (!set.IsSequence()) throw DataError(bad);
    for (const auto& item : set) {
      if (!item.IsScalar() || item.Scalar().find('=') == std::string::npos) throw DataError(bad);
      sets.push_back(item.Scalar());
    }
  }
  return sets;
}

std::map<std::string, std::string> run_config(const fs::path& run_dir) {
  std::map<std::string, std::string> config = flatten_config(run_dir / "config.yaml");
  for (const auto& set : resumed_overrides(run_dir)) {
    const size_t eq = set.find('=');
    const std::string key = set.substr(0, eq), value = set.substr(eq + 1);
    YAML::Node node;
    try {
      node = value.empty() ? YAML::Node(std::string()) : YAML::Load(value);
    } catch (const YAML::Exception&) {
      node = YAML::Node(value);
    }
    std::map<std::string, std::string> one;
    flatten(node, key, one);
    for (const auto& [k, v] : one) config[k] = v;
  }
  return config;
}

int64_t RunInfo::n() const {
  if (!parent) return 1;
  auto it = summary.find("runs_finished");
  if (it != summary.end() && it->is_number_integer()) return it->get<int64_t>();
  return static_cast<int64_t>(subruns.size());
}

RunInfo read_run(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw DataError("run directory '" + dir.string() + "' does not exist");
  RunInfo run;
  run.path = dir.string();
  fs::path norm = fs::absolute(dir, ec).lexically_normal();
  if (!norm.has_filename()) norm = norm.parent_path();  // "runs/x/" -> "runs/x"
  run.label = norm.filename().string();

  const fs::path summary_path = dir / "summary.json";
  if (!fs::exists(summary_path, ec)) {
    if (!fs::exists(dir / "config.yaml", ec))
      throw DataError("'" + dir.string() + "' is not a run directory (no config.yaml)");
    throw DataError("run '" + dir.string() + "' has no summary.json (not finished?)");
  }
  std::string text;
  if (!slurp(summary_path, text)) throw DataError("cannot open '" + summary_path.string() + "'");
  try {
    run.summary = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw DataError("'" + summary_path.string() + "' is not valid JSON (at byte " +
                    std::to_string(e.byte) + ")");
  }
  if (!run.summary.is_object())
    throw DataError("'" + summary_path.string() + "' is not a JSON object");

  auto runs = run.summary.find("runs");
  if (runs != run.summary.end()) {
    if (!runs->is_array())
      throw DataError("'" + summary_path.string() + "': \"runs\" is not a list of sub-runs");
    run.parent = true;
    for (const auto& name : *runs) {
      if (!name.is_string())
        throw DataError("'" + summary_path.string() + "': \"runs\" holds a non-string entry");
      const fs::path sub = dir / name.get<std::string>();
      if (!fs::exists(sub / "summary.json", ec)) continue;  // not finished
      run.subruns.push_back(read_run(sub));
    }
  }

  if (fs::exists(dir / "config.yaml", ec)) {
    run.config = run_config(dir);
    for (auto& [key, value] : run.config) value = replace_run_dir(value, dir);
  }
  // A parent: its sub-runs' configs merged; what differs between them varies.
  std::vector<const RunInfo*> configured;
  for (const auto& s : run.subruns)
    if (!s.config.empty()) configured.push_back(&s);
  if (!configured.empty()) {
    std::map<std::string, std::string> merged;
    for (const RunInfo* s : configured) {
      for (const auto& [key, value] : s->config) {
        auto [it, inserted] = merged.emplace(key, value);
        if (!inserted && it->second != value) it->second = kVaries;
      }
    }
    for (auto& [key, value] : merged) {
      for (const RunInfo* s : configured)
        if (!s->config.count(key)) value = kVaries;
    }
    run.config = std::move(merged);
  }
  return run;
}

std::vector<std::pair<int64_t, double>> read_curve(const fs::path& run_dir, const std::string& type,
                                                   const std::string& metric) {
  std::string text;
  if (!slurp(run_dir / "metrics.jsonl", text)) return {};
  std::map<int64_t, double> points;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto rec = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (rec.is_discarded() || !rec.is_object()) continue;  // a line cut off by a crash
    auto t = rec.find("type");
    auto s = rec.find("step");
    auto v = rec.find(metric);
    if (t == rec.end() || !t->is_string() || t->get<std::string>() != type) continue;
    if (s == rec.end() || !s->is_number_integer()) continue;
    if (v == rec.end() || !is_plain_number(*v)) continue;
    double value = v->get<double>();
    if (!std::isfinite(value)) continue;
    points[s->get<int64_t>()] = value;
  }
  return {points.begin(), points.end()};
}

}  // namespace rnnlab
