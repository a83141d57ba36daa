// The run directory every training run writes:
//   config.yaml        the fully resolved config
//   log.txt            everything the run printed
//   metrics.jsonl      one JSON object per logged training step or evaluation
//   summary.json       the final metrics (flat keys), wall time, parameter count
//   checkpoint_last.pt / checkpoint_best.pt   (written atomically)
//   learning_curve.svg training and validation loss against steps (gnuplot)
// plus whatever the app saves (tokenizer, samples...).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace spdlog {
class logger;
}

namespace rnnlab {

/// Writes `content` to `path` through a temporary file and a rename, so that
/// readers see either the old or the new file, never a partial one.
void write_file_atomic(const std::filesystem::path& path, const std::string& content);

/// Reads a whole file; DataError if it cannot be read.
std::string read_file(const std::filesystem::path& path);

/// Whether `name` is one directory entry: not empty, not "." or "..", no '/'
/// (run.name, sub-run names: they must not lead out of their parent).
bool is_plain_name(const std::string& name);

class RunDir {
 public:
  /// Creates a new run directory at `path` (an existing non-empty directory is
  /// an error, so no run is overwritten; one that holds only a lock and
  /// temporaries, left by a creation stopped before config.yaml, is reused).
  static RunDir create(const std::filesystem::path& path);
  /// Whether `path` can become a new run: it does not exist, or is a
  /// directory with nothing in it but `.lock` and temporaries.
  static bool is_unused(const std::filesystem::path& path);
  /// UsageError unless is_unused(path): "... is a file, not a directory" or
  /// "... already exists and is not empty; use --resume to continue it" (for
  /// a command without --resume, `can_resume` false: "choose another --run-dir").
  static void check_unused(const std::filesystem::path& path, bool can_resume = true);
  /// Opens an existing run directory (one with config.yaml) to resume or read it.
  static RunDir open(const std::filesystem::path& path);
  /// Default location: <runs_root>/<experiment>/<YYYYmmdd-HHMMSS>.
  static std::filesystem::path default_path(const std::string& runs_root,
                                            const std::string& experiment);

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path file(const std::string& name) const { return path_ / name; }

  /// Appends one JSON object as a line of metrics.jsonl.
  void append_metrics(const nlohmann::json& record) const;
  /// Drops metrics.jsonl records with "step" > `step` (used when resuming, so
  /// the steps redone after the checkpoint are not logged twice).
  void truncate_metrics_after(int64_t step) const;
  /// Writes summary.json (pretty-printed, atomically). It is the last file a
  /// run writes: a run directory with a summary.json is complete.
  void write_summary(const nlohmann::json& summary) const;
  /// summary.json when the run is complete, else nothing; DataError if it is
  /// not a JSON object.
  std::optional<nlohmann::json> completed_summary() const;
  /// Removes summary.json: a resumed run that trains again is not complete
  /// until it writes a new one.
  void mark_incomplete() const;
  /// The checkpoint to resume from: checkpoint_last.pt, or checkpoint_best.pt
  /// when the run was killed during the very first write of the last one
  /// (the best is written an instant before, from the same state; the last,
  /// once written, is only ever replaced); "" when there is none.
  std::filesystem::path resume_checkpoint() const;
  /// Removes the temporary files an atomic write leaves when the process is
  /// killed mid-write ("checkpoint_last.pt.tmp", "summary.json.tmp.<pid>");
  /// called under the run-directory lock before a resume.
  void remove_temporaries() const;
  /// Renders learning_curve.svg from metrics.jsonl with gnuplot: training and
  /// validation loss on the left axis, labelled `loss_label`
  /// (Task::loss_label()), and, when `metric` names a validation metric other
  /// than "loss" (the early-stop metric: "accuracy", "bleu"), its values on
  /// the right axis with the best one marked. Returns false (and leaves
  /// learning_curve.gp for later use) if gnuplot is unavailable.
  bool plot_learning_curve(const std::string& loss_label = "loss",
                           const std::string& metric = "") const;

 private:
  explicit RunDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

/// An exclusive lock on a run directory for as long as a process trains in
/// it: flock() on RUN/.lock, released when the object goes or the process
/// dies (kill -9 included). A second `train --resume` of the same directory,
/// which would interleave its checkpoints and logs with the first, fails with
/// RuntimeError "run directory 'RUN' is in use by another process (pid N)".
class RunDirLock {
 public:
  explicit RunDirLock(const std::filesystem::path& dir);
  ~RunDirLock();
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

 private:
  int fd_ = -1;
};

/// A new run directory, made the one way every command makes one: created
/// (RunDir::create), locked for this object's life (its own lock, or
/// `held`, one this process already holds on it), and its config.yaml
/// written. The caller opens its log.
struct NewRun {
  RunDir dir;
  std::unique_ptr<RunDirLock> lock;
};
NewRun create_run(const std::filesystem::path& path, const std::string& config_text,
                  std::unique_ptr<RunDirLock> held = nullptr);

/// The process-wide logger: the console (stderr) always, plus `log_file` once
/// a run directory exists. Lines look like "[2026-11-23 10:00:00] text" in the file.
std::shared_ptr<spdlog::logger> logger();
void log_to_file(const std::filesystem::path& log_file);

/// Adds `log_file` to the logger's outputs for its lifetime (a sub-run's own
/// log.txt, while the parent's log.txt keeps receiving everything).
class LogFile {
 public:
  explicit LogFile(const std::filesystem::path& log_file);
  ~LogFile();
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

 private:
  std::shared_ptr<void> sink_;
};

}  // namespace rnnlab
