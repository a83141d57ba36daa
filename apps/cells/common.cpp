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

}  // namespace rnnlab::cells
