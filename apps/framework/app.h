// What every rnnlab-<app> binary shares: error handling and exit codes, the
// `train` command line, config loading, run-directory set-up, device and seeds.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <torch/types.h>

#include "apps/framework/config.h"
#include "apps/framework/run_dir.h"
#include "apps/framework/sections.h"

namespace rnnlab {

/// Makes glibc keep freed memory for reuse instead of returning large blocks
/// to the kernel (guarded_main calls it; training reallocates the same large
/// buffers every step).
void keep_freed_memory();

/// Runs `body`, turning every error into one line "error: ..." on stderr and
/// an exit code: 0 success, 1 data or runtime error, 2 usage or config error.
/// CLI11 parse errors and --help are handled here too.
/// It also records the program's name for program_name(): the App's name
/// (CLI::App cli{"...", "rnnlab-lm"}), else argv[0]'s file name.
int guarded_main(CLI::App& cli, int argc, char** argv, const std::function<int()>& body);

/// `message` with control characters and bytes that are not UTF-8 written
/// as \xNN, so that an error stays one readable line (guarded_main prints
/// every error through it).
std::string printable(std::string_view message);

/// The running binary's name ("rnnlab-lm"), "" before guarded_main.
const std::string& program_name();

/// The text of a run's config.yaml: a first line naming the app that wrote
/// it ("# rnnlab-translate run"), so that another app refuses the run by
/// name, then the resolved config.
std::string run_config_text(const ConfigSchema& schema, const std::string& app = "");

/// Options of a `train` subcommand.
struct TrainArgs {
  std::string config;             ///< experiment YAML (not needed with --resume)
  std::vector<std::string> sets;  ///< --set key=value, in order
  std::string run_dir;            ///< --run-dir: where to write the run
  std::string resume;             ///< --resume RUN_DIR
  bool print_config = false;      ///< --print-config: show the resolved config and exit
  bool list_keys = false;         ///< --list-keys: every key with type, default and help
  bool can_resume = true;         ///< the command has --resume (messages point to it)
  int64_t nproc = 1;              ///< --nproc N: N local data-parallel processes
};

/// This process's command line, as guarded_main received it.
const std::vector<std::string>& command_line();

/// Adds `train CONFIG [--set k=v]... [--run-dir D] [--resume D] [--print-config]`.
CLI::App* add_train_command(CLI::App& cli, TrainArgs& args, const std::string& description);

/// Adds a command of a config that runs once, without --resume (rnnlab-cells
/// compare and gradflow, rnnlab-mnist gradflow): `NAME CONFIG [--set k=v]...
/// [--run-dir D] [--print-config] [--list-keys]`.
CLI::App* add_config_command(CLI::App& cli, const std::string& name, TrainArgs& args,
                             const std::string& description);

/// Reads the config for `args` into the schema's fields: the YAML file (or,
/// when resuming, the run's config.yaml and the overrides of its earlier
/// resumptions), then the --set overrides, then checks.
void load_config(ConfigSchema& schema, const TrainArgs& args);

/// Every key of the schema as a Markdown table: key, type, default, meaning;
/// for a command with --resume (`can_resume`), the keys that may change then are marked.
std::string keys_table(const ConfigSchema& schema, bool can_resume = true);

/// The config part of a `train` command, for a Config with bind(ConfigSchema&)
/// and validate(const ConfigSchema&) const: binds `cfg`, then prints every key
/// (--list-keys) and returns false, or loads the config (load_config), checks
/// it (cfg.validate) and prints it and returns false with --print-config;
/// returns true when training should go on.
template <class Config>
bool prepare_config(Config& cfg, ConfigSchema& schema, const TrainArgs& args) {
  cfg.bind(schema);
  if (args.list_keys) {
    std::cout << keys_table(schema, args.can_resume);
    return false;
  }
  load_config(schema, args);
  cfg.validate(schema);
  if (args.print_config) {
    std::cout << schema.to_yaml();
    return false;
  }
  return true;
}

/// The experiment name: run.name if set, else the config file's stem.
std::string experiment_name(const RunSection& run, const TrainArgs& args);

/// Creates a new run directory (run.dir/<experiment>/<timestamp>, or
/// --run-dir) through create_run() (locked for the NewRun's life,
/// config.yaml written) and starts log.txt; for commands without training
/// and resume (gradflow). Training apps use run_experiment().
NewRun create_run_dir(const ConfigSchema& schema, const RunSection& run, const TrainArgs& args);

/// Sets the thread count and seeds every generator from run.seed: the one
/// place a run is seeded (run_experiment calls it before each job is built).
/// Other seeded draws derive their seeds with datasets::derive_seed().
void seed_run(const RunSection& run);

/// "auto" -> CUDA when available, else CPU. ConfigError for cuda without a GPU.
torch::Device resolve_device(const std::string& name);

/// Seeds libtorch's CPU (and CUDA) generators.
void seed_everything(int64_t seed);

/// A data path from the config, relative to run.data_root (absolute paths are
/// kept). DataError when the file does not exist, naming the config `key`,
/// run.data_root and the directory it was resolved against.
std::string data_path(const RunSection& run, const std::string& path, const std::string& key = "");

}  // namespace rnnlab
