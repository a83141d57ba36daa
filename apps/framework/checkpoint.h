// Checkpoint files: atomic writes, and loads that check what they load.
//
// A checkpoint is a libtorch archive with a "model" sub-archive (the module's
// own save()), plus whatever the writer adds (optimizer, position, RNG
// states...). libtorch's Module::load resizes tensors to whatever the file
// holds; load_module() instead compares every parameter and buffer by name,
// shape and dtype first and fails with one line naming the file and the first
// mismatch, so a checkpoint of another model never loads silently.
#pragma once

#include <torch/nn/module.h>
#include <torch/serialize/archive.h>

#include <filesystem>
#include <string>

namespace rnnlab {

/// Writes `archive` to `path` through `path.tmp` and a rename (readers and a
/// crash see the old file or the new one, never a partial one).
void save_archive_atomic(torch::serialize::OutputArchive& archive,
                         const std::filesystem::path& path);

/// Reads a checkpoint file; DataError naming it if it is missing or unreadable.
void read_archive(torch::serialize::InputArchive& archive, const std::filesystem::path& path);

/// Loads `archive` (written by module.save()) into `module` after checking
/// that every parameter and buffer exists with the same shape and dtype, and
/// that the archive has nothing the module lacks. DataError on a mismatch:
///   "checkpoint 'F' does not fit this model: 'rnn.inner.weight_hh_l0' is
///    [1024, 256] in the file, [768, 256] in the model"
void load_module(torch::nn::Module& module, torch::serialize::InputArchive& archive,
                 const std::filesystem::path& file);

/// Reads `checkpoint` and loads its "model" part into `module` (checked as above).
void load_model_from(torch::nn::Module& module, const std::filesystem::path& checkpoint);

/// The state of every random generator libtorch draws from (CPU, and each
/// CUDA device when there is one), to save in and restore from a checkpoint.
void save_rng_state(torch::serialize::OutputArchive& archive);
void load_rng_state(torch::serialize::InputArchive& archive);

/// The CPU generator's state (a byte tensor), and setting it.
torch::Tensor cpu_rng_state();
void set_cpu_rng_state(const torch::Tensor& state);

}  // namespace rnnlab
