// Weights shared with Python's PyTorch: a trained model's parameters as a
// `state_dict` file that `torch.load` reads (names as the equivalent torch.nn
// modules use), and a Python `state_dict` file as a model's initialisation.
//
// Names. rnnlab's modules already use torch's names (`weight_ih_l0`,
// `bias_hh_l1_reverse`, Linear's `weight` and `bias`...), but a recurrent
// stack (modules/recurrent.h) wraps its torch-style module in a child named
// `rnn`: `encoder.rnn.weight_ih_l0` in rnnlab is `encoder.weight_ih_l0` for
// a torch.nn.LSTM named `encoder`. An app adds what only it knows (TorchNaming):
// parameters of its own (a tied decoder's `output_bias` is `decoder.bias`),
// tensors written as copies (a tied decoder's `decoder.weight`) and the
// torch.nn modules that hold them.
//
// Files. torch::pickle_save writes the zip format of Python's torch.save.
// libtorch 1.13's reader (torch::pickle_load) reads a plain dict of two or
// more tensors, not the OrderedDict that model.state_dict() returns: Python
// writes `torch.save(dict(model.state_dict()), FILE)`, and anything else is a
// one-line error that says so.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "apps/framework/experiment.h"
#include "datasets/tokenizer.h"

namespace rnnlab {

/// Named tensors in order (a state_dict).
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

/// What an app adds to the generic naming of its model.
struct TorchNaming {
  /// rnnlab name -> torch name, before the generic rule; "" leaves it out.
  std::vector<std::pair<std::string, std::string>> renames;
  /// Tensors written besides the parameters (torch name, tensor): a tied
  /// decoder's weight. Reading a file, each must equal what the model makes
  /// of it after the parameters are loaded.
  NamedTensors derived;
  /// torch.nn modules to add to (or replace in) the generic description:
  /// name -> {"class": "Linear", "args": {...}}.
  nlohmann::json modules = nlohmann::json::object();
};

/// A model's parameters under torch.nn's names, and how to rebuild it there.
struct TorchExport {
  NamedTensors tensors;  ///< parameters and buffers, then the derived tensors
  /// name -> {"class", "args"} for each top-level module torch.nn has
  /// (Embedding, LSTM/GRU/RNN, Linear, AdaptiveLogSoftmaxWithLoss).
  nlohmann::json modules = nlohmann::json::object();
  /// Names of tensors torch.nn's modules do not have (layer norm's ln_*,
  /// modules of rnnlab's own), with why.
  nlohmann::json rnnlab_only = nlohmann::json::object();
};

/// The torch.nn name of each of `model`'s parameters and buffers, in
/// named_parameters() then named_buffers() order (after `naming.renames`;
/// left-out ones are absent).
std::vector<std::pair<std::string, std::string>> torch_names(const torch::nn::Module& model,
                                                             const TorchNaming& naming = {});

/// `model`'s tensors (on the CPU, detached) under torch.nn's names, with the
/// modules' description (see TorchExport).
TorchExport torch_export(const torch::nn::Module& model, const TorchNaming& naming = {});

/// Writes `tensors` as a dict in the format of Python's torch.save, through
/// a temporary file and a rename. RuntimeError naming the file on failure.
void write_state_dict(const NamedTensors& tensors, const std::filesystem::path& file);

/// Reads a dict of name -> tensor written by torch.save (Python) or
/// write_state_dict. DataError naming the file for a missing or unreadable
/// file, one that is not a dict of tensors, or Python's OrderedDict.
NamedTensors read_state_dict(const std::filesystem::path& file);

/// Copies the tensors of `file` (a state_dict with torch.nn's names) into
/// `model`'s matching parameters and buffers. DataError, before anything is
/// copied, for the first name the model does not have or the first shape
/// that differs; afterwards, for a derived tensor (naming.derived) that
/// differs from what the model now makes of it. Floating-point tensors of
/// another precision are converted. Returns the torch names of the model's
/// tensors the file lacks (they keep their initialisation).
std::vector<std::string> init_from_pytorch(torch::nn::Module& model,
                                           const std::filesystem::path& file,
                                           const std::function<TorchNaming()>& naming);

/// init_from_pytorch() of tensors already read (torch.nn names); `source`
/// names where they come from in the errors ("'lm.pt'").
std::vector<std::string> load_named(torch::nn::Module& model, const NamedTensors& tensors,
                                    const std::string& source,
                                    const std::function<TorchNaming()>& naming);

/// Declares `<prefix>.init_from_pytorch` (a Python state_dict file), the
/// one declaration of that key for every app.
void bind_init_from_pytorch(ConfigSchema& s, const std::string& prefix, std::string* path);

/// For a new run whose `key` (model.init_from_pytorch) names a file:
/// init_from_pytorch() from `path` (relative to the current directory), with
/// its errors naming the key; returns the line for the run's log: how many
/// tensors were read and which kept their initialisation. A resumed run
/// (`resuming`) takes its weights from its checkpoint instead: "".
std::string apply_init_from_pytorch(torch::nn::Module& model, const std::string& key,
                                    const std::string& path, bool resuming,
                                    const std::function<TorchNaming()>& naming);

/// `export --run RUN [--subrun S] [--checkpoint best|last] --out FILE.pt`.
struct ExportArgs {
  RunChoice run;
  std::string out;
};

/// Adds the `export` command to `cli`; `what` names the model in --help.
CLI::App* add_export_command(CLI::App& cli, ExportArgs& args, const std::string& what);

/// Writes the export of a loaded run: `out` (the state_dict), and beside it
/// `out` with ".json" for ".pt": `info` (what the app says: tokenizer,
/// vocabulary file, how the forward pass goes...) plus the modules, the
/// rnnlab-only tensors, the tensors' names and shapes, the run and checkpoint.
/// Prints one line naming what it wrote (`also`: the app's other files).
/// UsageError for an `out` check_export_out() refuses.
void write_export(const TorchExport& exported, nlohmann::json info, const TrainedRun& trained,
                  const std::string& out, const std::vector<std::filesystem::path>& also = {});

/// The path beside `out` (FILE.pt) for `suffix`: FILE.json, FILE.vocab.json.
std::filesystem::path export_sibling(const std::string& out, const std::string& suffix);

/// UsageError when `out` (export's --out) is inside the run directory, is a
/// directory, or lies in one that does not exist: checked before anything is written.
void check_export_out(const TrainedRun& trained, const std::string& out);

/// Writes `tokenizer`'s vocabulary beside `out` as `<name>` (FILE.vocab.json:
/// a JSON list of the pieces in id order, so that any piece, a newline
/// included, survives) and returns what a Python user needs of it: type,
/// size, the file's name, the special ids and the run's tokenizer directory.
nlohmann::json export_tokenizer(const datasets::Tokenizer& tokenizer,
                                const std::filesystem::path& tokenizer_dir, const std::string& out,
                                const std::string& name = ".vocab.json");

}  // namespace rnnlab
