// Checkpoint I/O (see checkpoint.h).
#include "apps/framework/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/serialize.h>

#include <fmt/format.h>
#include <algorithm>
#include <set>

#include "core/error.h"
#include "core/torch_error.h"

namespace fs = std::filesystem;

namespace rnnlab {

namespace {

// Walks module and archive together; returns the first mismatch or "".
std::string mismatch(torch::nn::Module& module, torch::serialize::InputArchive& archive,
                     const std::string& prefix) {
  std::set<std::string> expected;
  auto check = [&](const std::string& key, const torch::Tensor& mine, bool is_buffer) {
    expected.insert(key);
    torch::Tensor theirs;
    if (!archive.try_read(key, theirs, is_buffer))
      return fmt::format("'{}{}' is missing from the file", prefix, key);
    if (theirs.sizes() != mine.sizes())
      return fmt::format("'{}{}' is {} in the file, {} in the model", prefix, key,
                         shape_str(theirs.sizes()), shape_str(mine.sizes()));
    if (theirs.scalar_type() != mine.scalar_type())
      return fmt::format("'{}{}' is {} in the file, {} in the model", prefix, key,
                         c10::toString(theirs.scalar_type()), c10::toString(mine.scalar_type()));
    return std::string();
  };
  for (const auto& p : module.named_parameters(/*recurse=*/false)) {
    std::string m = check(p.key(), p.value(), false);
    if (!m.empty()) return m;
  }
  for (const auto& b : module.named_buffers(/*recurse=*/false)) {
    std::string m = check(b.key(), b.value(), true);
    if (!m.empty()) return m;
  }
  for (const auto& child : module.named_children()) {
    if (!child.value()->is_serializable()) continue;
    expected.insert(child.key());
    torch::serialize::InputArchive sub;
    if (!archive.try_read(child.key(), sub))
      return fmt::format("module '{}{}' is missing from the file", prefix, child.key());
    std::string m = mismatch(*child.value(), sub, prefix + child.key() + ".");
    if (!m.empty()) return m;
  }
  for (const auto& key : archive.keys())
    if (!expected.count(key))
      return fmt::format("the file has '{}{}', which this model does not", prefix, key);
  return "";
}

}  // namespace

void save_archive_atomic(torch::serialize::OutputArchive& archive, const fs::path& path) {
  fs::path tmp = path;
  tmp += ".tmp";
  try {
    archive.save_to(tmp.string());
  } catch (const c10::Error& e) {
    throw RuntimeError("cannot write checkpoint '" + tmp.string() + "': " + first_line(e));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw RuntimeError("cannot rename '" + tmp.string() + "': " + ec.message());
}

void read_archive(torch::serialize::InputArchive& archive, const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw DataError("checkpoint '" + path.string() + "' does not exist");
  try {
    archive.load_from(path.string());
  } catch (const c10::Error&) {
    throw DataError("checkpoint '" + path.string() + "' is unreadable or truncated");
  }
}

void load_module(torch::nn::Module& module, torch::serialize::InputArchive& archive,
                 const fs::path& file) {
  std::string m;
  try {
    m = mismatch(module, archive, "");
  } catch (const c10::Error& e) {
    m = first_line(e);
  }
  if (!m.empty())
    throw DataError("checkpoint '" + file.string() + "' does not fit this model: " + m);
  try {
    module.load(archive);
  } catch (const c10::Error& e) {
    throw DataError("checkpoint '" + file.string() + "' does not fit this model: " + first_line(e));
  }
}

void load_model_from(torch::nn::Module& module, const fs::path& checkpoint) {
  torch::serialize::InputArchive archive, model;
  read_archive(archive, checkpoint);
  if (!archive.try_read("model", model))
    throw DataError("checkpoint '" + checkpoint.string() + "' has no model in it");
  load_module(module, model, checkpoint);
}

void save_rng_state(torch::serialize::OutputArchive& archive) {
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    archive.write("rng", gen.get_state());
  }
  if (torch::cuda::is_available()) {
    for (int64_t d = 0; d < static_cast<int64_t>(torch::cuda::device_count()); ++d) {
      auto gen = at::globalContext().defaultGenerator(torch::Device(torch::kCUDA, d));
      std::lock_guard<std::mutex> lock(gen.mutex());
      archive.write("rng_cuda" + std::to_string(d), gen.get_state());
    }
  }
}

torch::Tensor cpu_rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_cpu_rng_state(const torch::Tensor& state) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

void load_rng_state(torch::serialize::InputArchive& archive) {
  torch::Tensor state;
  archive.read("rng", state);
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  }
  if (torch::cuda::is_available()) {
    for (int64_t d = 0; d < static_cast<int64_t>(torch::cuda::device_count()); ++d) {
      if (!archive.try_read("rng_cuda" + std::to_string(d), state)) continue;
      auto gen = at::globalContext().defaultGenerator(torch::Device(torch::kCUDA, d));
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(state);
    }
  }
}

}  // namespace rnnlab
