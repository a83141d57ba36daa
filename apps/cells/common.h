// Helpers shared by the rnnlab-cells commands (compare.cpp, gradflow.cpp).
#pragma once

#include <torch/types.h>

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "apps/cells/task.h"

namespace rnnlab::cells {

using Clock = std::chrono::steady_clock;

/// Seconds since `t0`.
double seconds_since(Clock::time_point t0);
/// Median of `v` (0 when empty).
double median(std::vector<double> v);
/// Where a key's value came from ("compare.yaml:5", "--set", "default").
std::string where_of(const ConfigSchema& s, const std::string& key);
/// "key 'k' (where)" for error messages.
std::string key_with_source(const std::string& key, const std::string& where);
/// Every entry of `values` must be one of `allowed`, and the list must not be
/// empty; ConfigError naming the key otherwise.
void check_names(const std::vector<std::string>& values, const std::vector<std::string>& allowed,
                 const std::string& key, const std::string& where);
/// Waits for the device's queued work (CUDA), so that timings are real.
void sync(torch::Device device);

/// Loads and checks the config of command `name`; returns false when the
/// command is done (--list-keys, --print-config).
template <class Config>
bool prepare(const std::string& name, Config& cfg, ConfigSchema& schema, const TrainArgs& args) {
  if (args.config.empty() && !args.list_keys)
    throw UsageError(name + ": a config file is required (see --help)");
  return prepare_config(cfg, schema, args);
}

}  // namespace rnnlab::cells
