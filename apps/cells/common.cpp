// Helpers and the command line shared by the rnnlab-cells commands.
#include "apps/cells/common.h"

#include <torch/cuda.h>

#include <algorithm>

#include "core/error.h"

namespace rnnlab::cells {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Where a key's value came from ("compare.yaml:5", "--set", "default").
std::string where_of(const ConfigSchema& s, const std::string& key) {
  const ConfigField* f = s.find(key);
  return f ? f->source : "";
}

std::string key_with_source(const std::string& key, const std::string& where) {
  return "key '" + key + "'" + (where.empty() || where == "default" ? "" : " (" + where + ")");
}

// Every entry of `values` must be one of `allowed`, and the list must not be empty.
void check_names(const std::vector<std::string>& values, const std::vector<std::string>& allowed,
                 const std::string& key, const std::string& where) {
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  if (values.empty())
    throw ConfigError(key_with_source(key, where) + ": the list is empty; allowed: " + list);
  for (const auto& v : values)
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end())
      throw ConfigError(key_with_source(key, where) + ": entry '" + v +
                        "' is not allowed; allowed: " + list);
}

void sync(torch::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

CLI::App* add_config_command(CLI::App& cli, const std::string& name, TrainArgs& args,
                             const std::string& description) {
  CLI::App* cmd = cli.add_subcommand(name, description);
  args.can_resume = false;
  cmd->add_option("config", args.config, "experiment YAML file (experiments/cells/...)");
  cmd->add_option("--set", args.sets, "override a config key: --set compare.repeats=3 (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  cmd->add_option("--run-dir", args.run_dir,
                  "run directory to create (default: <run.dir>/<experiment>/<timestamp>)");
  cmd->add_flag("--print-config", args.print_config,
                "print the fully resolved config and exit without running");
  cmd->add_flag("--list-keys", args.list_keys,
                "list every config key with its type, default and meaning, and exit");
  return cmd;
}

}  // namespace rnnlab::cells
