// Reading finished runs back: summaries, learning curves and configs, and the
// summary of a parent run (repeated seeds or folds). No libtorch here, so
// rnnlab-report and its tests build in seconds.
//
// A plain run directory holds config.yaml, metrics.jsonl and summary.json
// (see run_dir.h). A parent run directory holds complete run directories
// RUN/<sub>/ (seed1, seed2... or fold01, fold02...) and RUN/summary.json with
// "runs": [...], "runs_finished" and m_mean, m_std, m_min, m_max for every
// numeric key m of the finished sub-runs' summaries (aggregate_summaries).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace rnnlab {

/// The summary of a parent run from its sub-runs' summaries, given as
/// (sub-run name, summary.json object) in order. A sub-run whose summary is
/// not an object (null: not finished) is listed in "runs" but not counted.
/// Returns {"runs": [names], "runs_finished": n} and, for every key whose value
/// is a number (not a bool) in every finished run, m_mean, m_std, m_min and
/// m_max. m_std is the sample standard deviation (denominator n - 1), the
/// unbiased estimate of the spread between seeds that a reader compares with
/// another configuration's; it is 0 when n == 1. m_min and m_max stay integers
/// when every value is an integer.
/// Example: aggregate_summaries({{"seed1", s1}, {"seed2", s2}})["val_loss_mean"]
nlohmann::json aggregate_summaries(const std::vector<std::pair<std::string, nlohmann::json>>& runs);

/// config.yaml flattened to dotted keys: {"model.rnn.impl": "builtin", ...}.
/// Scalars keep their YAML text, sequences are written in flow style
/// ("[1, 2]"), null as "null". DataError naming the file if it cannot be read
/// or parsed.
std::map<std::string, std::string> flatten_config(const std::filesystem::path& config_yaml);

/// The overrides each `train --resume RUN --set ...` recorded in
/// RUN/resumed.yaml, in order ("train.max_steps=300"); none without the file.
/// DataError naming the file (and line) if it is not a list of such records.
std::vector<std::string> resumed_overrides(const std::filesystem::path& run_dir);

/// A run's config as it trained: config.yaml flattened (flatten_config) with
/// resumed_overrides() applied in order. rnnlab-report reads runs with it;
/// the apps read them with load_run_config(), which applies the same
/// overrides to their typed config.
std::map<std::string, std::string> run_config(const std::filesystem::path& run_dir);

/// The config value of a parent run for a key its sub-runs disagree on.
inline constexpr const char* kVaries = "(varies)";

/// Stands for the run's own directory in RunInfo::config values.
inline constexpr const char* kRunDir = "$RUN";

/// One run directory read back, plain or parent.
struct RunInfo {
  std::string path;              ///< the directory as given
  std::string label;             ///< its name (the last component of its absolute path)
  nlohmann::json summary;        ///< summary.json (an object)
  bool parent = false;           ///< true if summary.json lists "runs"
  std::vector<RunInfo> subruns;  ///< the finished sub-runs of a parent, in order
  std::map<std::string, std::string> config;  ///< flattened config (see read_run)
  /// A row of published figures (rnnlab-report --published), not a run:
  /// `summary` holds its numbers, and it has no config, curve or n.
  bool published = false;
  /// Sub-runs: runs_finished of a parent (else the sub-runs read), 1 for a plain run.
  int64_t n() const;
};

/// Reads a run directory. DataError naming the path if the directory does not
/// exist, has no summary.json ("run 'DIR' has no summary.json (not
/// finished?)") or a malformed one. For a parent, the sub-runs listed in
/// "runs" that have a summary.json are read too (unfinished ones are skipped).
/// `config` is config.yaml flattened (empty if there is none), with the run's
/// own directory written kRunDir, so that runs compare equal where they differ
/// only by where they are. For a parent it is its sub-runs' configs merged,
/// with kVaries for a key whose value differs between them (run.seed between
/// seeds) or that some lack; the parent's own config.yaml counts only if no
/// sub-run has one.
RunInfo read_run(const std::filesystem::path& dir);

/// The (step, value) points of `metric` in the records of `type` ("train",
/// "valid") of RUN/metrics.jsonl, sorted by step. Lines that do not parse (a
/// run cut off by a crash) and records without the metric are skipped; a
/// step logged twice keeps its last value. Empty if there is no metrics.jsonl.
/// Example: read_curve("runs/x", "valid", "loss")
std::vector<std::pair<int64_t, double>> read_curve(const std::filesystem::path& run_dir,
                                                   const std::string& type,
                                                   const std::string& metric);

}  // namespace rnnlab
