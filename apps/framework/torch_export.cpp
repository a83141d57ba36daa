// Weights shared with Python's PyTorch (see torch_export.h).
#include "apps/framework/torch_export.h"

#include <fmt/format.h>
#include <torch/nn/modules/adaptive.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/serialize.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <set>

#include "apps/framework/checkpoint.h"
#include "apps/framework/run_dir.h"
#include "core/error.h"
#include "core/torch_error.h"
#include "datasets/vocab.h"
#include "modules/recurrent.h"

namespace fs = std::filesystem;

namespace rnnlab {

namespace {

/// Prefixes ("encoder.", "" for the model itself) of every recurrent stack.
std::vector<std::string> recurrent_prefixes(const torch::nn::Module& model) {
  std::vector<std::string> out;
  for (const auto& m : model.named_modules("", /*include_self=*/true))
    if (m.value()->as<RecurrentImpl>()) out.push_back(m.key().empty() ? "" : m.key() + ".");
  return out;
}

/// The generic rule: "P.rnn.X" -> "P.X" for a recurrent stack at P.
std::string generic_name(const std::string& name, const std::vector<std::string>& stacks) {
  for (const auto& p : stacks) {
    const std::string inner = p + "rnn.";
    if (name.rfind(inner, 0) == 0) return p + name.substr(inner.size());
  }
  return name;
}

/// torch.nn's description of a recurrent stack, and the names of its
/// tensors torch.nn's module lacks (layer norm's).
nlohmann::json describe_recurrent(const RecurrentOptions& o) {
  nlohmann::json args = {{"input_size", o.input_size()},      {"hidden_size", o.hidden_size()},
                         {"num_layers", o.num_layers()},      {"bias", o.bias()},
                         {"batch_first", o.batch_first()},    {"dropout", o.dropout()},
                         {"bidirectional", o.bidirectional()}};
  std::string cls;
  switch (o.type()) {
    case CellType::kLSTM:
      cls = "LSTM";
      if (o.proj_size() > 0) args["proj_size"] = o.proj_size();
      break;
    case CellType::kGRU:
      cls = "GRU";
      break;
    case CellType::kRNN:
      cls = "RNN";
      args["nonlinearity"] = to_string(o.nonlinearity());
      break;
  }
  nlohmann::json d = {{"class", cls}, {"args", args}};
  // What the torch.nn module would compute differently: said, not hidden.
  std::vector<std::string> notes;
  if (o.layer_norm())
    notes.push_back(
        "layer_norm: the cells normalise their gates with rnnlab's ln_* parameters, which torch.nn "
        "lacks; the torch.nn module computes something else");
  if (o.weight_drop() > 0)
    notes.push_back(
        "weight_drop (DropConnect on weight_hh) acts in training only: the exported weights are "
        "the ones evaluation uses");
  if (o.recurrent_dropout() > 0 || o.locked_dropout())
    notes.push_back("recurrent or locked dropout act in training only");
  if (!notes.empty()) d["notes"] = notes;
  return d;
}

/// torch.nn's description of a top-level module, or null for one torch.nn lacks.
nlohmann::json describe_module(const torch::nn::Module& m) {
  if (const auto* r = m.as<RecurrentImpl>()) return describe_recurrent(r->options);
  if (const auto* l = m.as<torch::nn::LinearImpl>()) {
    const auto& o = l->options;
    return {{"class", "Linear"},
            {"args",
             {{"in_features", o.in_features()},
              {"out_features", o.out_features()},
              {"bias", o.bias()}}}};
  }
  if (const auto* e = m.as<torch::nn::EmbeddingImpl>()) {
    const auto& o = e->options;
    nlohmann::json args = {{"num_embeddings", o.num_embeddings()},
                           {"embedding_dim", o.embedding_dim()}};
    if (o.padding_idx()) args["padding_idx"] = *o.padding_idx();
    return {{"class", "Embedding"}, {"args", args}};
  }
  if (const auto* a = m.as<torch::nn::AdaptiveLogSoftmaxWithLossImpl>()) {
    const auto& o = a->options;
    return {{"class", "AdaptiveLogSoftmaxWithLoss"},
            {"args",
             {{"in_features", o.in_features()},
              {"n_classes", o.n_classes()},
              {"cutoffs", o.cutoffs()},
              {"div_value", o.div_value()},
              {"head_bias", o.head_bias()}}}};
  }
  return nullptr;
}

bool is_torch_parameter(const std::string& torch_name) {
  // Layer norm's parameters inside a recurrent stack: rnnlab's own.
  const std::string leaf = torch_name.substr(torch_name.rfind('.') + 1);
  return leaf.rfind("ln_", 0) != 0;
}

/// rnnlab name -> tensor, for parameters then buffers.
std::vector<std::pair<std::string, torch::Tensor>> model_tensors(const torch::nn::Module& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : model.named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : model.named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> torch_names(const torch::nn::Module& model,
                                                             const TorchNaming& naming) {
  const auto stacks = recurrent_prefixes(model);
  std::map<std::string, std::string> renames(naming.renames.begin(), naming.renames.end());
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, tensor] : model_tensors(model)) {
    (void)tensor;
    auto r = renames.find(name);
    std::string t = r != renames.end() ? r->second : generic_name(name, stacks);
    if (!t.empty()) out.emplace_back(name, t);
  }
  return out;
}

TorchExport torch_export(const torch::nn::Module& model, const TorchNaming& naming) {
  TorchExport ex;
  std::map<std::string, torch::Tensor> by_name;
  for (const auto& [name, tensor] : model_tensors(model)) by_name[name] = tensor;
  std::set<std::string> described;
  for (const auto& child : model.named_children()) {
    if (child.value()->parameters().empty() && child.value()->buffers().empty()) continue;
    nlohmann::json d = describe_module(*child.value());
    if (!d.is_null()) {
      ex.modules[child.key()] = d;
      described.insert(child.key());
    }
  }
  for (const auto& [name, d] : naming.modules.items()) {
    ex.modules[name] = d;
    described.insert(name);
  }
  auto add = [&](const std::string& torch_name, const torch::Tensor& t) {
    ex.tensors.emplace_back(torch_name, t.detach().to(torch::kCPU).contiguous().clone());
    const std::string top = torch_name.substr(0, torch_name.find('.'));
    if (!described.count(top))
      ex.rnnlab_only[torch_name] = "no torch.nn module holds it (rnnlab's own part of the model)";
    else if (!is_torch_parameter(torch_name))
      ex.rnnlab_only[torch_name] = "layer normalisation inside rnnlab's cells; torch.nn lacks it";
  };
  for (const auto& [name, torch_name] : torch_names(model, naming))
    add(torch_name, by_name.at(name));
  for (const auto& [torch_name, t] : naming.derived) add(torch_name, t);
  return ex;
}

void write_state_dict(const NamedTensors& tensors, const fs::path& file) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, t] : tensors) dict.insert(name, t);
  std::vector<char> bytes;
  try {
    bytes = torch::pickle_save(dict);
  } catch (const c10::Error& e) {
    throw RuntimeError("cannot write '" + file.string() + "': " + first_line(e));
  }
  write_file_atomic(file, std::string(bytes.begin(), bytes.end()));
}

NamedTensors read_state_dict(const fs::path& file) {
  const std::string f = "'" + file.string() + "'";
  std::error_code ec;
  if (!fs::exists(file, ec)) throw DataError(f + " does not exist");
  if (!fs::is_regular_file(file, ec)) throw DataError(f + " is not a file");
  const std::string text = read_file(file);
  const std::vector<char> bytes(text.begin(), text.end());
  const char* how =
      "a dict of name -> tensor written by torch.save (Python: "
      "torch.save(dict(model.state_dict()), "
      "FILE); libtorch 1.13 cannot read the OrderedDict of model.state_dict() itself, nor a dict "
      "of one tensor)";
  if (bytes.size() < 4 || std::string(bytes.data(), 2) != "PK")
    throw DataError(f + " is not a torch.save file (zip format); rnnlab reads " + how);
  torch::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const c10::Error& e) {
    // libtorch's "INTERNAL ASSERT FAILED ... please report a bug" is what an
    // OrderedDict gives: no news to the user.
    const std::string why = first_line(e);
    throw DataError(f + " could not be read" +
                    (why.find("INTERNAL ASSERT") != std::string::npos ? "" : " (" + why + ")") +
                    "; rnnlab reads " + how);
  }
  if (!value.isGenericDict())
    throw DataError(f + " holds a " + value.tagKind() + "; rnnlab reads " + how);
  NamedTensors out;
  for (const auto& kv : value.toGenericDict()) {
    if (!kv.key().isString())
      throw DataError(f + ": a key is a " + kv.key().tagKind() + ", not a name");
    const std::string name = kv.key().toStringRef();
    if (!kv.value().isTensor())
      throw DataError(f + ": '" + name + "' is a " + kv.value().tagKind() + ", not a tensor");
    out.emplace_back(name, kv.value().toTensor());
  }
  return out;
}

std::vector<std::string> init_from_pytorch(torch::nn::Module& model, const fs::path& file,
                                           const std::function<TorchNaming()>& naming) {
  return load_named(model, read_state_dict(file), "'" + file.string() + "'", naming);
}

std::vector<std::string> load_named(torch::nn::Module& model, const NamedTensors& theirs,
                                    const std::string& f,
                                    const std::function<TorchNaming()>& naming) {
  const TorchNaming names = naming ? naming() : TorchNaming{};
  std::map<std::string, torch::Tensor> mine;  // torch name -> the model's tensor
  std::map<std::string, torch::Tensor> by_name;
  for (const auto& [name, tensor] : model_tensors(model)) by_name[name] = tensor;
  std::vector<std::string> order;
  for (const auto& [name, torch_name] : torch_names(model, names)) {
    mine[torch_name] = by_name.at(name);
    order.push_back(torch_name);
  }
  std::set<std::string> derived;
  for (const auto& d : names.derived) derived.insert(d.first);

  // Every check first, so that a bad file changes nothing.
  std::set<std::string> given;
  for (const auto& [name, t] : theirs) {
    given.insert(name);
    if (derived.count(name)) continue;
    auto it = mine.find(name);
    if (it == mine.end()) {
      std::string known;
      for (size_t i = 0; i < order.size() && i < 6; ++i) known += (i ? ", " : "") + order[i];
      throw DataError(fmt::format("{}: '{}' is not a parameter of this model (its names: {}{})", f,
                                  name, known, order.size() > 6 ? ", ..." : ""));
    }
    if (t.sizes() != it->second.sizes())
      throw DataError(fmt::format("{}: '{}' is {} in the file, {} in the model", f, name,
                                  shape_str(t.sizes()), shape_str(it->second.sizes())));
    if (t.is_floating_point() != it->second.is_floating_point())
      throw DataError(fmt::format("{}: '{}' is {} in the file, {} in the model", f, name,
                                  c10::toString(t.scalar_type()),
                                  c10::toString(it->second.scalar_type())));
  }
  {
    torch::NoGradGuard no_grad;
    for (const auto& [name, t] : theirs)
      if (!derived.count(name)) mine.at(name).copy_(t.to(mine.at(name).device()));
  }
  // A derived tensor in the file must be what the model now makes of it.
  const TorchNaming after = naming ? naming() : TorchNaming{};
  for (const auto& [name, t] : theirs) {
    if (!derived.count(name)) continue;
    for (const auto& [dname, d] : after.derived) {
      if (dname != name) continue;
      if (t.sizes() != d.sizes() ||
          !torch::allclose(t.to(torch::kCPU).to(d.scalar_type()), d.detach().to(torch::kCPU)))
        throw DataError(fmt::format(
            "{}: '{}' differs from what this model makes of the file's other tensors (it ties "
            "or derives '{}'; untie it in the config, or tie it in Python)",
            f, name, name));
    }
  }
  std::vector<std::string> missing;
  for (const auto& name : order)
    if (!given.count(name)) missing.push_back(name);
  return missing;
}

void bind_init_from_pytorch(ConfigSchema& s, const std::string& prefix, std::string* path) {
  s.add(prefix + ".init_from_pytorch", path,
        "a Python PyTorch state_dict file (torch.save(dict(model.state_dict()), FILE), names as "
        "rnnlab-<app> export writes them) whose tensors initialise the model's matching "
        "parameters, relative to the current directory; the others keep their initialisation "
        "(\"\": none)");
}

std::string apply_init_from_pytorch(torch::nn::Module& model, const std::string& key,
                                    const std::string& path, bool resuming,
                                    const std::function<TorchNaming()>& naming) {
  if (path.empty() || resuming) return "";
  std::vector<std::string> missing;
  try {
    missing = init_from_pytorch(model, path, naming);
  } catch (const DataError& e) {
    throw DataError("key '" + key + "': " + e.what());
  }
  const size_t total = torch_names(model, naming ? naming() : TorchNaming{}).size();
  return fmt::format(
      "{}: {} of the model's {} tensors read from '{}'{}", key, total - missing.size(), total, path,
      missing.empty() ? std::string()
                      : fmt::format("; kept their initialisation: {}", fmt::join(missing, ", ")));
}

CLI::App* add_export_command(CLI::App& cli, ExportArgs& args, const std::string& what) {
  CLI::App* cmd = cli.add_subcommand(
      "export", "write a trained " + what +
                    "'s parameters as a Python PyTorch state_dict (torch.load), with a JSON "
                    "file that says how to rebuild it with torch.nn");
  add_run_options(cmd, args.run, what);
  cmd->add_option("--out", args.out, "the state_dict file to write (FILE.pt; FILE.json beside it)")
      ->required();
  return cmd;
}

fs::path export_sibling(const std::string& out, const std::string& suffix) {
  fs::path p(out);
  if (p.extension() == ".pt" || p.extension() == ".pth") p.replace_extension();
  p += suffix;
  return p;
}

void check_export_out(const TrainedRun& trained, const std::string& out) {
  std::error_code ec;
  const fs::path o = fs::weakly_canonical(out, ec);
  const fs::path run = fs::weakly_canonical(trained.dir, ec);
  auto [end, _] = std::mismatch(run.begin(), run.end(), o.begin(), o.end());
  if (end == run.end())
    throw UsageError("--out '" + out + "' is inside the run directory '" + trained.dir.string() +
                     "'; write elsewhere");
  if (fs::is_directory(o, ec))
    throw UsageError("--out '" + out + "' is a directory; name the file to write (FILE.pt)");
  if (!o.parent_path().empty() && !fs::is_directory(o.parent_path(), ec))
    throw UsageError("--out '" + out + "': the directory '" + o.parent_path().string() +
                     "' does not exist");
}

nlohmann::json export_tokenizer(const datasets::Tokenizer& tokenizer, const fs::path& tokenizer_dir,
                                const std::string& out, const std::string& name) {
  nlohmann::json pieces = nlohmann::json::array();
  for (int64_t id = 0; id < tokenizer.vocab_size(); ++id)
    pieces.push_back(tokenizer.id_to_piece(id));
  const fs::path file = export_sibling(out, name);
  write_file_atomic(file, pieces.dump() + "\n");
  // The tokenizer's options as the run saved them (lowercase, split_punctuation...).
  nlohmann::json options = nlohmann::json::object();
  std::ifstream saved(tokenizer_dir / "tokenizer.json");
  if (saved) options = nlohmann::json::parse(saved, nullptr, /*allow_exceptions=*/false);
  if (options.is_discarded()) options = nlohmann::json::object();
  return {{"type", tokenizer.type()},
          {"options", options},
          {"vocab_size", tokenizer.vocab_size()},
          {"vocabulary", file.filename().string()},
          {"special_ids",
           {{"<pad>", datasets::Vocab::kPad},
            {"<unk>", datasets::Vocab::kUnk},
            {"<bos>", datasets::Vocab::kBos},
            {"<eos>", datasets::Vocab::kEos}}},
          {"tokenizer_dir", tokenizer_dir.string()}};
}

void write_export(const TorchExport& exported, nlohmann::json info, const TrainedRun& trained,
                  const std::string& out, const std::vector<fs::path>& also) {
  check_export_out(trained, out);
  write_state_dict(exported.tensors, out);
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& [name, t] : exported.tensors)
    tensors.push_back({{"name", name}, {"shape", t.sizes().vec()}});
  info["format"] = "rnnlab export 1";
  info["state_dict"] = fs::path(out).filename().string();
  info["run"] = trained.dir.string();
  info["checkpoint"] = trained.checkpoint.filename().string();
  info["modules"] = exported.modules;
  info["rnnlab_only"] = exported.rnnlab_only;
  info["tensors"] = tensors;
  const fs::path json = export_sibling(out, ".json");
  write_file_atomic(json, info.dump(2) + "\n");
  std::string files = json.string();
  for (const auto& f : also) files += ", " + f.string();
  std::cout << fmt::format("wrote {} ({} tensors), {}", out, exported.tensors.size(), files)
            << std::endl;
}

}  // namespace rnnlab
