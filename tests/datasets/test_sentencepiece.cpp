// Tests of the sentencepiece tokenizer (unigram and BPE) and the regression test
// for the bridge's reason to exist: sentencepiece and libtorch used in one process.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "datasets/spm_client.h"
#include "datasets/tokenizer.h"
#include "datasets/utf8.h"
#include "datasets/vocab.h"
#include "tests/support/support.h"

namespace rnnlab::datasets {
namespace {

using test::error_of;
using test::TempDir;

// A few hundred lines of English, German and Korean built from fixed word lists
// with a fixed linear congruential generator, so every run trains on the same text.
std::vector<std::string> training_lines() {
  const std::vector<std::string> words = {
      "the",     "quick",  "brown",      "fox",     "jumps",  "over",     "lazy",   "dog",
      "and",     "it",     "was",        "fun",     "a",      "man",      "woman",  "is",
      "walking", "in",     "park",       "with",    "two",    "children", "Größe",  "Übermäßig",
      "schön",   "Straße", "über",       "Mädchen", "spielt", "im",       "Garten", "ein",
      "Hund",    "läuft",  "der",        "die",     "das",    "und",      "grüne",  "Wiese",
      "Äpfel",   "Öl",     "안녕하세요", "세계",    "사람",   "학교",     "에",     "갑니다",
      "오늘",    "날씨",   "가",         "좋다",    "한국어", "공부",     "합니다", "Mann",
      "Frau",    "Kinder", "THE",        "It",      "Two",    "Ein"};
  const std::vector<std::string> punct = {".", ",", "!", "?", ""};
  uint32_t state = 12345;
  auto next = [&](uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  std::vector<std::string> lines;
  for (int i = 0; i < 400; ++i) {
    std::string line;
    int length = 3 + static_cast<int>(next(8));
    for (int w = 0; w < length; ++w) {
      if (w > 0) line += next(10) == 0 ? "  " : " ";
      line += words[next(static_cast<uint32_t>(words.size()))];
      if (next(6) == 0) line += punct[next(static_cast<uint32_t>(punct.size()))];
    }
    lines.push_back(line);
  }
  return lines;
}

const std::vector<std::string> kRoundTrip = {
    "Größe, Übermäßig schön!",
    "안녕하세요 세계",
    "The quick brown fox jumps over the lazy dog.",
    " a leading space, two  spaces and a trailing one ",
    "line one\nline two\n\nafter an empty line\n",
    "Mädchen spielt im Garten.\n오늘 날씨가 좋다!",
};

std::unique_ptr<Tokenizer> train_spm(const TempDir& dir, const std::string& model_type,
                                     int64_t vocab_size) {
  TokenizerOptions options;
  options.type = "sentencepiece";
  options.spm_model_type = model_type;
  options.spm_vocab_size = vocab_size;
  return train_tokenizer(options, training_lines(), dir.file("work"));
}

void check_round_trips(const Tokenizer& tok) {
  for (const auto& text : kRoundTrip) {
    auto ids = tok.encode(text);
    EXPECT_EQ(tok.decode(ids), text);
    EXPECT_EQ(tok.encode_strict(text), ids);
    auto pieces = tok.pieces(text);
    ASSERT_EQ(pieces.size(), ids.size()) << text;
    std::string joined;
    for (const auto& piece : pieces) joined += piece;
    EXPECT_EQ(joined, text);
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_NE(ids[i], Vocab::kUnk) << text;
      EXPECT_EQ(ids[i] == Vocab::kEos, pieces[i] == "\n") << text;
    }
  }
}

class SentencePiece : public ::testing::TestWithParam<std::string> {};

TEST_P(SentencePiece, TrainSaveLoadRoundTrip) {
  TempDir dir;
  auto tok = train_spm(dir, GetParam(), 120);
  EXPECT_EQ(tok->type(), "sentencepiece");
  EXPECT_EQ(tok->vocab_size(), 120);
  EXPECT_EQ(tok->id_to_piece(Vocab::kPad), "<pad>");
  EXPECT_EQ(tok->id_to_piece(Vocab::kUnk), "<unk>");
  EXPECT_EQ(tok->id_to_piece(Vocab::kBos), "<bos>");
  EXPECT_EQ(tok->id_to_piece(Vocab::kEos), "<eos>");
  EXPECT_THROW(tok->id_to_piece(120), DataError);
  check_round_trips(*tok);
  // Subword units: the training text takes fewer pieces than characters.
  size_t num_pieces = 0, num_chars = 0;
  for (const auto& line : training_lines()) {
    num_pieces += tok->encode(line).size();
    num_chars += split_utf8(line, "line").size();
  }
  EXPECT_LT(num_pieces, num_chars * 3 / 4);
  auto lines = tok->encode("fox\nfox\n");
  EXPECT_EQ(std::count(lines.begin(), lines.end(), Vocab::kEos), 2);
  EXPECT_EQ(lines.back(), Vocab::kEos);
  EXPECT_EQ(tok->decode({Vocab::kBos, Vocab::kEos, Vocab::kPad}), "\n");

  tok->save(dir.file("saved"));
  auto loaded = load_tokenizer(dir.file("saved"));
  EXPECT_EQ(loaded->type(), "sentencepiece");
  EXPECT_EQ(loaded->vocab_size(), 120);
  for (const auto& text : kRoundTrip) EXPECT_EQ(loaded->encode(text), tok->encode(text));
  check_round_trips(*loaded);

  // An existing model can be loaded through the options instead of training.
  TokenizerOptions options;
  options.type = "sentencepiece";
  options.spm_model = dir.file("saved/spm.model");
  auto reused = train_tokenizer(options, {}, dir.file("work2"));
  EXPECT_EQ(reused->encode(kRoundTrip[0]), tok->encode(kRoundTrip[0]));
}

INSTANTIATE_TEST_SUITE_P(ModelTypes, SentencePiece, ::testing::Values("unigram", "bpe"));

TEST(SentencePieceErrors, UnknownCharacters) {
  TempDir dir;
  auto tok = train_spm(dir, "unigram", 120);
  auto ids = tok->encode("Größe €");
  EXPECT_NE(std::find(ids.begin(), ids.end(), Vocab::kUnk), ids.end());
  EXPECT_EQ(error_of<DataError>([&] { tok->encode_strict("schön\nGröße €"); }),
            "text:2: \"€\" at column 7 is not covered by the sentencepiece model");
  EXPECT_EQ(error_of<DataError>([&] { tok->encode("ok\n\xfe"); }),
            "text:2: invalid UTF-8 byte 0xfe at column 1");
}

TEST(SentencePieceErrors, MissingOrBadModel) {
  TempDir dir;
  TokenizerOptions options;
  options.type = "sentencepiece";
  options.spm_model = dir.file("m.model");
  EXPECT_EQ(error_of<DataError>([&] { train_tokenizer(options, {"text"}, dir.file("w")); }),
            "sentencepiece model '" + dir.file("m.model") + "' does not exist");
  dir.write("m.model", "this is not a protobuf");
  std::string message =
      error_of<DataError>([&] { train_tokenizer(options, {"text"}, dir.file("w")); });
  EXPECT_EQ(message.rfind("cannot load sentencepiece model '" + dir.file("m.model") + "'", 0), 0u)
      << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
}

TEST(SentencePieceErrors, TrainingFailureIsOneLine) {
  TempDir dir;
  TokenizerOptions options;
  options.type = "sentencepiece";
  options.spm_vocab_size = 100000;  // far more than a few lines can support
  std::string message =
      error_of<DataError>([&] { train_tokenizer(options, {"ab ab ab\n"}, dir.file("w")); });
  EXPECT_EQ(message.rfind("sentencepiece training failed: ", 0), 0u) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
  EXPECT_EQ(message.find(".cc("), std::string::npos) << message;
}

TEST(SentencePieceErrors, StatusWithoutSourceLocationOrCondition) {
  EXPECT_EQ(
      spm::readable_status("INTERNAL: trainer_interface.cc(661) [(trainer_spec_.vocab_size()) "
                           "== (model_proto->pieces_size())] Vocabulary size too high (100000)."),
      "INTERNAL: Vocabulary size too high (100000).");
  EXPECT_EQ(spm::readable_status("NOT_FOUND: \"/x/y.model\": No such file or directory Error #2"),
            "NOT_FOUND: \"/x/y.model\": No such file or directory Error #2");
  // Parentheses that are not a source location stay.
  EXPECT_EQ(spm::readable_status("INVALID_ARGUMENT: util.h(12) bad (3) value (x.cc)"),
            "INVALID_ARGUMENT: bad (3) value (x.cc)");
}

TEST(SentencePieceErrors, ModelWithOtherSpecialIds) {
  // A model trained with sentencepiece's defaults (unk=0, bos=1, eos=2) would
  // silently break the shared special ids: it is refused.
  TempDir dir;
  auto input = dir.write("input.txt", [] {
    std::string text;
    for (const auto& line : training_lines()) text += line + "\n";
    return text;
  }());
  spm::train({{"input", input}, {"model_prefix", dir.file("default")}, {"vocab_size", "100"}});
  TokenizerOptions options;
  options.type = "sentencepiece";
  options.spm_model = dir.file("default.model");
  EXPECT_EQ(
      error_of<DataError>([&] {
        train_tokenizer(options, {"text"}, dir.file("w"));
      }).rfind("sentencepiece model '" + dir.file("default.model") + "' has '<unk>' at id 0", 0),
      0u);
}

TEST(SentencePieceBridge, LibraryPath) {
  ASSERT_EQ(::setenv("RNNLAB_SPM_LIB", "/somewhere/librnnlab_spm.so", 1), 0);
  EXPECT_EQ(spm::bridge_path(), "/somewhere/librnnlab_spm.so");
  ASSERT_EQ(::unsetenv("RNNLAB_SPM_LIB"), 0);
  // The test binary is in <build>/bin, so <exe>/../lib/librnnlab_spm.so is found.
  auto path = std::filesystem::path(spm::bridge_path());
  EXPECT_EQ(path.filename(), "librnnlab_spm.so");
  EXPECT_EQ(path.parent_path().filename(), "lib");
  EXPECT_TRUE(std::filesystem::exists(path));
}

// Linking sentencepiece next to libtorch crashed before main or
// at the first call. The bridge is loaded with dlmopen; use libtorch before and
// after training, loading and encoding with sentencepiece in this process.
TEST(SentencePieceWithTorch, TorchBeforeAndAfterSentencePiece) {
  torch::manual_seed(0);
  auto check_torch = [] {
    auto a = torch::arange(6, torch::kFloat).reshape({2, 3});
    auto b = torch::ones({3, 2});
    auto c = torch::matmul(a, b);
    EXPECT_TRUE(torch::allclose(c, torch::tensor({{3.0f, 3.0f}, {12.0f, 12.0f}})));
    torch::nn::Linear linear(3, 4);
    auto y = linear->forward(a);
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 4}));
    auto expected = torch::addmm(linear->bias, a, linear->weight.t());
    EXPECT_TRUE(torch::allclose(y, expected));
    y.sum().backward();
    EXPECT_TRUE(linear->weight.grad().defined());
  };
  check_torch();

  TempDir dir;
  auto tok = train_spm(dir, "unigram", 120);
  tok->save(dir.file("saved"));
  auto loaded = load_tokenizer(dir.file("saved"));
  auto ids = loaded->encode("Größe, Übermäßig schön!\n안녕하세요 세계");
  EXPECT_EQ(loaded->decode(ids), "Größe, Übermäßig schön!\n안녕하세요 세계");

  check_torch();
  // Token ids go into a tensor and back unchanged.
  auto tensor = torch::tensor(ids, torch::kLong);
  auto back =
      std::vector<int64_t>(tensor.data_ptr<int64_t>(), tensor.data_ptr<int64_t>() + tensor.numel());
  EXPECT_EQ(loaded->decode(back), "Größe, Übermäßig schön!\n안녕하세요 세계");
}

}  // namespace
}  // namespace rnnlab::datasets
