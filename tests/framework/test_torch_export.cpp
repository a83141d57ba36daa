// Weights shared with Python's PyTorch (apps/framework/torch_export.h):
// torch.nn's names, files Python wrote (tests/data/pytorch, made by
// make_fixtures.py with python3-torch), round trips, and every bad file.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "apps/framework/torch_export.h"
#include "apps/lm/task.h"
#include "core/error.h"
#include "modules/language_model.h"
#include "tests/support/support.h"

namespace rnnlab {
namespace {

using test::TempDir;

const std::string kFixtures = std::string(RNNLAB_SOURCE_DIR) + "/tests/data/pytorch/";

/// The model make_fixtures.py writes: Embedding(12, 4), LSTM(4, 5, 2), Linear(5, 12).
LanguageModel fixture_lm(Implementation impl, bool tied = false, int64_t E = 4) {
  torch::manual_seed(3);
  return LanguageModel(
      LanguageModelOptions(12, RecurrentOptions(CellType::kLSTM, E, 5).num_layers(2).impl(impl))
          .embedding_dim(E)
          .tie_weights(tied)
          .padding_idx(0));
}

torch::Tensor param(const LanguageModel& m, const std::string& name) {
  return m->named_parameters()[name];
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TorchExport, RecurrentStacksLoseTheirWrapperInTorchNames) {
  for (auto impl : {Implementation::kCustom, Implementation::kBuiltin}) {
    LanguageModel m = fixture_lm(impl);
    std::vector<std::string> names;
    for (const auto& [mine, theirs] : torch_names(*m, lm::torch_naming(m))) {
      names.push_back(theirs);
      if (theirs.rfind("rnn.", 0) == 0) {
        EXPECT_EQ(mine, "rnn." + theirs);
      }
    }
    EXPECT_EQ(names, (std::vector<std::string>{
                         "embedding.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0",
                         "rnn.bias_ih_l0", "rnn.bias_hh_l0", "rnn.weight_ih_l1", "rnn.weight_hh_l1",
                         "rnn.bias_ih_l1", "rnn.bias_hh_l1", "decoder.weight", "decoder.bias"}))
        << to_string(impl);
  }
}

TEST(TorchExport, DescribesTheTorchModulesThatRebuildTheModel) {
  LanguageModel m = fixture_lm(Implementation::kCustom);
  TorchExport ex = torch_export(*m, lm::torch_naming(m));
  EXPECT_EQ(ex.modules["embedding"]["class"], "Embedding");
  EXPECT_EQ(ex.modules["embedding"]["args"]["num_embeddings"], 12);
  EXPECT_EQ(ex.modules["embedding"]["args"]["padding_idx"], 0);
  EXPECT_EQ(ex.modules["rnn"]["class"], "LSTM");
  EXPECT_EQ(ex.modules["rnn"]["args"]["input_size"], 4);
  EXPECT_EQ(ex.modules["rnn"]["args"]["hidden_size"], 5);
  EXPECT_EQ(ex.modules["rnn"]["args"]["num_layers"], 2);
  EXPECT_EQ(ex.modules["decoder"]["class"], "Linear");
  EXPECT_EQ(ex.modules["decoder"]["args"]["out_features"], 12);
  EXPECT_FALSE(ex.modules.contains("dropout"));  // no parameters
  EXPECT_TRUE(ex.rnnlab_only.empty());
  ASSERT_EQ(ex.tensors.size(), 11u);
  EXPECT_TRUE(torch::equal(ex.tensors[0].second, m->embedding->weight.detach()));

  // A tied model: decoder is a Linear whose weight is the embedding's.
  LanguageModel tied = fixture_lm(Implementation::kCustom, /*tied=*/true, /*E=*/5);
  TorchExport t = torch_export(*tied, lm::torch_naming(tied));
  EXPECT_EQ(t.modules["decoder"]["args"]["in_features"], 5);
  EXPECT_EQ(t.tensors.back().first, "decoder.weight");
  EXPECT_TRUE(torch::equal(t.tensors.back().second, tied->embedding->weight.detach()));
  auto bias = std::find_if(t.tensors.begin(), t.tensors.end(),
                           [](const auto& p) { return p.first == "decoder.bias"; });
  ASSERT_NE(bias, t.tensors.end());
  EXPECT_TRUE(torch::equal(bias->second, tied->output_bias.detach()));

  // Layer norm's parameters are rnnlab's own, and said to be.
  LanguageModel ln(
      LanguageModelOptions(12, RecurrentOptions(CellType::kLSTM, 4, 5).layer_norm(true))
          .embedding_dim(4));
  TorchExport l = torch_export(*ln, lm::torch_naming(ln));
  EXPECT_TRUE(l.rnnlab_only.contains("rnn.ln_ih_l0")) << l.rnnlab_only.dump();
  EXPECT_TRUE(l.modules["rnn"].contains("notes"));
}

TEST(TorchExport, ReadsWhatPythonWrote) {
  for (auto impl : {Implementation::kCustom, Implementation::kBuiltin}) {
    for (const char* file : {"lm_dict.pt", "lm_double.pt"}) {
      LanguageModel m = fixture_lm(impl);
      auto missing = init_from_pytorch(*m, kFixtures + file, [&] { return lm::torch_naming(m); });
      EXPECT_TRUE(missing.empty());
      // make_fixtures.py: the k-th element of the i-th tensor is i + k / 1000.
      EXPECT_FLOAT_EQ(param(m, "embedding.weight")[0][1].item<float>(), 0.001f);
      EXPECT_FLOAT_EQ(param(m, "rnn.rnn.weight_hh_l0")[0][1].item<float>(), 2.001f);
      EXPECT_FLOAT_EQ(param(m, "rnn.rnn.bias_hh_l1")[3].item<float>(), 8.003f);
      EXPECT_FLOAT_EQ(param(m, "decoder.bias")[11].item<float>(), 10.011f);
      EXPECT_EQ(param(m, "decoder.bias").scalar_type(), torch::kFloat);
    }
  }
}

TEST(TorchExport, WritesWhatItReadsBack) {
  TempDir dir;
  LanguageModel a = fixture_lm(Implementation::kCustom);
  TorchExport ex = torch_export(*a, lm::torch_naming(a));
  write_state_dict(ex.tensors, dir.file("a.pt"));
  NamedTensors back = read_state_dict(dir.file("a.pt"));
  ASSERT_EQ(back.size(), ex.tensors.size());
  for (size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].first, ex.tensors[i].first);
    EXPECT_TRUE(torch::equal(back[i].second, ex.tensors[i].second));
  }
  // Into a model of the other implementation, with other initial weights.
  torch::manual_seed(11);
  LanguageModel b(
      LanguageModelOptions(
          12, RecurrentOptions(CellType::kLSTM, 4, 5).num_layers(2).impl(Implementation::kBuiltin))
          .embedding_dim(4)
          .padding_idx(0));
  EXPECT_FALSE(torch::equal(param(b, "decoder.weight"), param(a, "decoder.weight")));
  init_from_pytorch(*b, dir.file("a.pt"), [&] { return lm::torch_naming(b); });
  for (const auto& p : a->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), b->named_parameters()[p.key()])) << p.key();
  EXPECT_FALSE(std::filesystem::exists(dir.file("a.pt.tmp")));
}

TEST(TorchExport, TiedModelsCheckTheDecoderWeight) {
  TempDir dir;
  LanguageModel a = fixture_lm(Implementation::kCustom, true, 5);
  write_state_dict(torch_export(*a, lm::torch_naming(a)).tensors, dir.file("tied.pt"));
  LanguageModel b = fixture_lm(Implementation::kCustom, true, 5);
  b->embedding->weight.data().zero_();
  init_from_pytorch(*b, dir.file("tied.pt"), [&] { return lm::torch_naming(b); });
  EXPECT_TRUE(torch::equal(a->embedding->weight, b->embedding->weight));
  EXPECT_TRUE(torch::equal(a->output_bias, b->output_bias));
  // A file whose decoder.weight is not its embedding: refused, named.
  NamedTensors bad = read_state_dict(dir.file("tied.pt"));
  bad.back().second = bad.back().second + 1;
  write_state_dict(bad, dir.file("untied.pt"));
  EXPECT_NE(error_of([&] {
              init_from_pytorch(*b, dir.file("untied.pt"), [&] { return lm::torch_naming(b); });
            }).find("'decoder.weight' differs from what this model makes"),
            std::string::npos);
}

TEST(TorchExport, MissingTensorsKeepTheirInitialisationAndAreListed) {
  TempDir dir;
  NamedTensors part = read_state_dict(kFixtures + "lm_dict.pt");
  part.erase(part.begin() + 9, part.end());  // without decoder.weight and decoder.bias
  write_state_dict(part, dir.file("part.pt"));
  LanguageModel m = fixture_lm(Implementation::kCustom);
  torch::Tensor before = param(m, "decoder.weight").clone();
  auto missing = init_from_pytorch(*m, dir.file("part.pt"), [&] { return lm::torch_naming(m); });
  EXPECT_EQ(missing, (std::vector<std::string>{"decoder.weight", "decoder.bias"}));
  EXPECT_TRUE(torch::equal(before, param(m, "decoder.weight")));
  std::string note = apply_init_from_pytorch(*m, "model.init_from_pytorch", dir.file("part.pt"),
                                             false, [&] { return lm::torch_naming(m); });
  EXPECT_NE(note.find("9 of the model's 11 tensors read"), std::string::npos) << note;
  EXPECT_NE(note.find("kept their initialisation: decoder.weight, decoder.bias"),
            std::string::npos);
  EXPECT_EQ(apply_init_from_pytorch(*m, "model.init_from_pytorch", dir.file("part.pt"), true,
                                    [&] { return lm::torch_naming(m); }),
            "");  // resuming: the checkpoint has the weights
}

TEST(TorchExport, BadFilesAreOneLineErrorsNamingTheFileAndTheProblem) {
  TempDir dir;
  LanguageModel m = fixture_lm(Implementation::kCustom);
  auto naming = [&] { return lm::torch_naming(m); };
  auto err = [&](const std::string& file) {
    return error_of([&] { init_from_pytorch(*m, file, naming); });
  };
  torch::Tensor before = param(m, "embedding.weight").clone();
  EXPECT_NE(err(dir.file("none.pt")).find("none.pt' does not exist"), std::string::npos);
  EXPECT_NE(err(dir.path.string()).find("is not a file"), std::string::npos);
  test::write_file(dir.file("text.pt"), "hello");
  EXPECT_NE(err(dir.file("text.pt")).find("is not a torch.save file"), std::string::npos);
  std::string e = err(kFixtures + "lm_ordered_dict.pt");
  EXPECT_NE(e.find("could not be read"), std::string::npos) << e;
  EXPECT_NE(e.find("torch.save(dict(model.state_dict()), FILE)"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos);
  EXPECT_NE(err(kFixtures + "tensor.pt").find("holds a Tensor"), std::string::npos);
  // Truncated: the zip's end is missing.
  std::string bytes = test::read_all(kFixtures + "lm_dict.pt");
  test::write_file(dir.file("cut.pt"), bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(err(dir.file("cut.pt")).find("could not be read"), std::string::npos);

  // Names and shapes: the first mismatch, and nothing copied.
  NamedTensors t = read_state_dict(kFixtures + "lm_dict.pt");
  t.emplace_back("encoder.weight_ih_l0", torch::zeros({2}));
  write_state_dict(t, dir.file("extra.pt"));
  e = err(dir.file("extra.pt"));
  EXPECT_NE(e.find("'encoder.weight_ih_l0' is not a parameter of this model (its names: "
                   "embedding.weight, rnn.weight_ih_l0"),
            std::string::npos)
      << e;
  t.pop_back();
  t[2].second = torch::zeros({20, 4});  // rnn.weight_hh_l0 is [20, 5]
  write_state_dict(t, dir.file("shape.pt"));
  EXPECT_NE(err(dir.file("shape.pt"))
                .find("'rnn.weight_hh_l0' is [20, 4] in the file, [20, 5] in "
                      "the model"),
            std::string::npos);
  t[2].second = torch::zeros({20, 5}, torch::kLong);
  write_state_dict(t, dir.file("dtype.pt"));
  EXPECT_NE(err(dir.file("dtype.pt")).find("is Long in the file, Float in the model"),
            std::string::npos);
  EXPECT_TRUE(torch::equal(before, param(m, "embedding.weight")));
  // Through the config key: the key is named.
  e = error_of([&] {
    apply_init_from_pytorch(*m, "model.init_from_pytorch", dir.file("none.pt"), false, naming);
  });
  EXPECT_EQ(e.rfind("key 'model.init_from_pytorch': '", 0), 0u) << e;
}

}  // namespace
}  // namespace rnnlab
