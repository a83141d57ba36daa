// What every test folder shares (the rnnlab_test_support library, linked into
// every test binary by rnnlab_add_test): scratch directories and files,
// running a command, one-line error checks, run directories read back, and a
// small corpus to learn from. No libtorch.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

namespace rnnlab::test {

/// The app binaries under test, in the build's bin/ (every test target and this
/// library are compiled with RNNLAB_BINARY_DIR, the build directory).
inline const std::string kLm = std::string(RNNLAB_BINARY_DIR) + "/bin/rnnlab-lm";
inline const std::string kCells = std::string(RNNLAB_BINARY_DIR) + "/bin/rnnlab-cells";
inline const std::string kWord2vec = std::string(RNNLAB_BINARY_DIR) + "/bin/rnnlab-word2vec";
inline const std::string kSentiment = std::string(RNNLAB_BINARY_DIR) + "/bin/rnnlab-sentiment";
inline const std::string kTranslate = std::string(RNNLAB_BINARY_DIR) + "/bin/rnnlab-translate";
inline const std::string kReport = std::string(RNNLAB_BINARY_DIR) + "/bin/rnnlab-report";
inline const std::string kMnist = std::string(RNNLAB_BINARY_DIR) + "/bin/rnnlab-mnist";

/// A fresh directory under the system temp dir, removed when it goes out of scope.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// Path of `name` inside the directory.
  std::string file(const std::string& name) const { return (path / name).string(); }
  /// Writes `bytes` to `name` and returns its path.
  std::string write(const std::string& name, const std::string& bytes) const;

  std::filesystem::path path;
};

/// Writes `content` to `path` (binary) and returns `path`.
std::string write_file(const std::string& path, const std::string& content);

/// The bytes of a file ("" if it cannot be read).
std::string read_all(const std::string& path);

/// Runs `f`, expects it to throw E, and returns the exception's message.
template <typename E, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return "";
}

/// A shell command's exit code and combined stdout+stderr.
struct CommandResult {
  int code = -1;
  std::string output;
};
/// Runs a shell command (stderr joined to stdout).
CommandResult run_command(const std::string& command);

/// "/usr/bin/python3" when it imports torch (python3-torch, which
/// scripts/setup.sh installs), else "" (the caller skips).
std::string python_with_torch();

/// Checks that `rnnlab-<app> export` wrote `out` (FILE.pt) and FILE.json,
/// and that Python's PyTorch rebuilds the torch.nn modules the JSON describes
/// and loads FILE.pt into them with strict checks (scripts/load_exported.py);
/// skips the Python part when python3-torch is missing. Returns the JSON.
std::string expect_python_loads_export(const std::string& out);

/// Checks that a command failed with exit code `code` and printed exactly one
/// line, "error: ..." containing `text` (GoogleTest expectations).
void expect_one_line_error(const CommandResult& r, int code, const std::string& text);

/// Whether a metrics.jsonl or summary.json field measures time (and so
/// differs between two runs of the same seed).
bool is_time_field(const std::string& key);

/// A JSON object without its time fields.
nlohmann::json without_time(nlohmann::json j);

/// A run directory's summary.json.
nlohmann::json read_summary(const std::filesystem::path& run);

/// metrics.jsonl without the fields that measure time.
std::string metrics_without_time(const std::filesystem::path& run);

/// The "loss" of every "train" record of a run's metrics.jsonl, in order.
std::vector<double> train_losses(const std::filesystem::path& run);

/// Trains `command` (a `train` command line) in one process into `one` and
/// with `--nproc 2` into `two`; both must succeed.
void train_on_one_and_two(const std::string& command, const std::filesystem::path& one,
                          const std::filesystem::path& two);

/// Two runs' per-update training losses (log_every 1) agree to `relative`,
/// as do their val_loss (when they have one): a run on several processes
/// against one process. `updates`: how many there are (0: any number).
void expect_same_training(const std::filesystem::path& one, const std::filesystem::path& many,
                          size_t updates, double relative);

/// Every file of a run directory (but its lock) with its bytes and mtime.
std::map<std::string, std::pair<std::string, std::filesystem::file_time_type>> snapshot(
    const std::filesystem::path& run);

/// `binary train --resume RUN` of a complete run says so and changes no file;
/// with an override that leaves nothing to train, only log.txt gains lines.
void expect_complete_run_unchanged_by_resume(const std::string& binary, const std::string& run);

/// A small English corpus with enough structure to learn from quickly.
std::string tiny_corpus(int lines = 400);

}  // namespace rnnlab::test
