// The rnnlab-word2vec binary: neighbours, analogies and similarity on a small
// hand-built vectors file, and its one-line errors with exit codes.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <string>

#include "datasets/utf8.h"
#include "datasets/word_vectors.h"
#include "tests/support/support.h"

namespace rnnlab {
namespace {

using test::expect_one_line_error;
using test::run_command;
using test::TempDir;
using test::write_file;

using test::kWord2vec;

// king - man + woman = queen exactly; paris is far from everything.
std::string vectors(const TempDir& dir) {
  return write_file(dir.file("v.txt"),
                    "6 3\n"
                    "man 1 0 0\n"
                    "woman 1 1 0\n"
                    "king 1 0 1\n"
                    "queen 1 1 1\n"
                    "prince 1 0 0.9\n"
                    "paris 0 -1 -1\n");
}

TEST(Word2VecCli, NeighborsAnalogySimilarity) {
  TempDir dir;
  std::string v = vectors(dir);
  auto r = run_command(kWord2vec + " neighbors --vectors " + v + " -k 2 king");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("king\n  prince"), 0u) << r.output;

  std::string q = write_file(dir.file("q.txt"),
                             ": family\nman woman king queen\nMAN WOMAN PRINCE QUEEN\nbad line\n"
                             "man woman king berlin\n");
  r = run_command(kWord2vec + " analogy --vectors " + v + " --questions " + q);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("family"), std::string::npos) << r.output;
  // Two covered questions, both right (prince's answer is queen too), one
  // skipped for berlin, one malformed line (line 4).
  EXPECT_NE(r.output.find("total                        100.00 %  (2 / 2, 1 skipped)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("1 malformed lines skipped (first: line 4)"), std::string::npos)
      << r.output;

  std::string p = write_file(dir.file("p.csv"),
                             "Word 1,Word 2,Human (mean)\nking,queen,9\nking,prince,8\n"
                             "man,paris,1\nking,unknown,5\n");
  r = run_command(kWord2vec + " similarity --vectors " + v + " --pairs " + p);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("3 pairs, 1 out of vocabulary"), std::string::npos) << r.output;
}

TEST(Word2VecCli, ErrorsAreOneLineWithExitCodes) {
  TempDir dir;
  std::string v = vectors(dir);
  expect_one_line_error(run_command(kWord2vec + " neighbors --vectors " + v + " king nowhere"), 1,
                        "word 'nowhere' is not in the vocabulary");
  expect_one_line_error(
      run_command(kWord2vec + " neighbors --vectors " + dir.file("none.bin") + " x"), 1,
      "none.bin");
  std::string bad = write_file(dir.file("bad.txt"), "2 3\nman 1 0 0\nwoman 1 1\n");
  expect_one_line_error(run_command(kWord2vec + " neighbors --vectors " + bad + " man"), 1,
                        "bad.txt:3: expected 3 values after 'woman', got 2");
  expect_one_line_error(run_command(kWord2vec + " analogy --vectors " + v), 2, "--questions");
  expect_one_line_error(run_command(kWord2vec), 2, "");
  expect_one_line_error(run_command(kWord2vec + " normalize --in " + dir.file("none.txt") +
                                    " --out " + dir.file("out.txt")),
                        1, "none.txt");
  // A directory is not a corpus: no empty output written.
  expect_one_line_error(run_command(kWord2vec + " normalize --in " + dir.path.string() + " --out " +
                                    dir.file("o.txt")),
                        1, "is a directory, not a file");
  EXPECT_FALSE(std::filesystem::exists(dir.file("o.txt")));
}

TEST(Word2VecCli, NormalizeWritesWhatDataNormalizeReads) {
  TempDir dir;
  std::string in = write_file(dir.file("in.txt"), "The Café's 2 Cats!\nSecond LINE\n");
  auto r = run_command(kWord2vec + " normalize --in " + in + " --out " + dir.file("out.txt"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(test::read_all(dir.file("out.txt")), "the caf   s 2 cats \nsecond line\n");
}

// Vocabulary words that look like CLI11 lists or options (a trained
// vocabulary has "[and]" and "[1]" from Wikipedia text, "-lrb-" from PTB).
std::string tricky_vectors(const TempDir& dir) {
  return write_file(dir.file("tricky.txt"),
                    "8 3\n"
                    "and 1 0 0\n"
                    "[and] 0 1 0\n"
                    "the 0.9 0.1 0\n"
                    "-- 0 0 1\n"
                    "-lrb- 0.1 0.9 0\n"
                    "[the,and] 0 0.1 0.9\n"
                    "-k 0.6 0.6 0.5\n"
                    "[1] -1 0 0\n");
}

// The words of neighbors' output (each looked-up word, then "  neighbour cos").
std::string looked_up(const std::string& output) {
  std::string out;
  size_t at = 0;
  while (at < output.size()) {
    size_t end = output.find('\n', at);
    if (end == std::string::npos) end = output.size();
    if (output[at] != ' ') out += output.substr(at, end - at) + "|";
    at = end + 1;
  }
  return out;
}

TEST(Word2VecCli, NeighborsTakesWordsAsWritten) {
  TempDir dir;
  const std::string v = tricky_vectors(dir);
  const std::string nb = kWord2vec + " neighbors --vectors " + v + " -k 1 ";
  // "[and]" is one word, not the list {and}.
  auto r = run_command(nb + "'[and]'");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("[and]\n  -lrb- "), 0u) << r.output;
  EXPECT_EQ(looked_up(r.output), "[and]|") << r.output;
  // Nor is "[the,and]" two look-ups, before or after "--".
  for (const std::string args : {"'[the,and]'", "-- '[the,and]'"}) {
    r = run_command(nb + args);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(r.output.find("[the,and]\n  --  "), 0u) << r.output;
    EXPECT_EQ(looked_up(r.output), "[the,and]|") << r.output;
  }
  r = run_command(nb + "'[1]' and");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(looked_up(r.output), "[1]|and|") << r.output;
  // "--" ends the options wherever it is; every argument after it is a word,
  // "--" and "-k" too.
  r = run_command(nb + "and -- --");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(looked_up(r.output), "and|--|") << r.output;
  EXPECT_NE(r.output.find("--\n  [the,and] "), std::string::npos) << r.output;
  r = run_command(nb + "-- -- -lrb- -k '[and]'");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(looked_up(r.output), "--|-lrb-|-k|[and]|") << r.output;
  r = run_command(nb + "the -- -lrb-");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(looked_up(r.output), "the|-lrb-|") << r.output;
  // Options after the words, and in their = forms.
  r = run_command(kWord2vec + " neighbors and '[and]' -k 2 --vectors=" + v);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(looked_up(r.output), "and|[and]|") << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 6) << r.output;
  // A word not in the vocabulary is the usual error, never another word's answer.
  expect_one_line_error(run_command(nb + "'[a,and]'"), 1,
                        "error: word '[a,and]' is not in the vocabulary");
  expect_one_line_error(run_command(nb + "-- '[the]'"), 1,
                        "error: word '[the]' is not in the vocabulary");
  // A word that looks like an option, without "--": an error that says what to do.
  expect_one_line_error(run_command(nb + "-lrb-"), 2, "-lrb-");
  expect_one_line_error(run_command(nb + "-5"), 2,
                        "'-5' is not an option of neighbors; a word that starts with '-' goes "
                        "after '--'");
  expect_one_line_error(run_command(nb), 2, "neighbors needs a WORD");
  expect_one_line_error(run_command(nb + "--"), 2, "neighbors needs a WORD");
  // --help says how.
  r = run_command(kWord2vec + " neighbors --help");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("A word that starts with '-' goes after '--'"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("byte for byte"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.substr(r.output.size() - 10), " -lrb- --\n") << r.output;
}

TEST(Word2VecCli, PathsAndFormatsAsWritten) {
  TempDir dir;
  // A path with brackets and a comma reaches the program as it is.
  const std::string v = write_file(dir.file("[v,w].txt"), "2 2\na 1 0\nb 0 1\n");
  auto r = run_command(kWord2vec + " neighbors --vectors '" + v + "' a");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("a\n  b "), 0u) << r.output;
  // A name that does not tell the format needs --format.
  const std::string plain = write_file(dir.file("vectors"), "2 2\na 1 0\nb 0 1\n");
  for (const std::string& cmd : {" neighbors --vectors " + plain + " a",
                                 " similarity --vectors " + plain + " --pairs " + plain,
                                 " analogy --vectors " + plain + " --questions " + plain})
    expect_one_line_error(run_command(kWord2vec + cmd), 2,
                          "the name does not tell whether the file is text or binary (.bin: "
                          "binary; .txt, .vec: text); give --format text or --format binary");
  r = run_command(kWord2vec + " neighbors --vectors " + plain + " --format text a");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(looked_up(r.output), "a|");
  // --format binary on a text file: the binary reader's error.
  expect_one_line_error(run_command(kWord2vec + " neighbors --format binary --vectors " + v + " a"),
                        1, "is the file text");
  expect_one_line_error(run_command(kWord2vec + " neighbors --format bin --vectors " + v + " a"), 2,
                        "--format");
}

// A word with a control character (U+0005: valid UTF-8, found in Wikipedia
// dumps) gets a vector; the file rnnlab writes, rnnlab reads, in both formats.
TEST(Word2VecCli, ReadsVectorsWithControlCharacterWords) {
  TempDir dir;
  auto wv = datasets::make_word_vectors(
      {"good",
       "a\x05"
       "b",
       std::string("\0z", 2), "film"},
      torch::tensor({1.0f, 0.0f, 0.0f, 0.9f, 0.1f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 1.0f})
          .reshape({4, 3}));
  for (const std::string name : {"vectors.txt", "vectors.bin"}) {
    datasets::write_word2vec(wv, dir.file(name), name == "vectors.bin");
    auto r = run_command(kWord2vec + " neighbors --vectors " + dir.file(name) + " -k 1 good");
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(r.output.find("good\n  a\x05"
                            "b "),
              0u)
        << r.output;
  }
}

// A "bad header" (or any quoted file content) is escaped as \xNN where it is
// a control character or not UTF-8: the message is one valid UTF-8 line.
TEST(Word2VecCli, FileContentInErrorsIsValidUtf8) {
  TempDir dir;
  const std::string bad = write_file(dir.file("bad.txt"), "\xff\xfe 3 K\xc3\xb6nig\x01\nx 1 2 3\n");
  auto r = run_command(kWord2vec + " neighbors --vectors " + bad + " x");
  expect_one_line_error(r, 1,
                        "bad.txt:1: bad header '\\xff\\xfe 3 K\xc3\xb6nig\\x01': expected 'V D'");
  EXPECT_TRUE(datasets::valid_utf8(r.output)) << r.output;
  const std::string value = write_file(dir.file("value.txt"), "1 2\nx 1 \xe9t\xe9\n");
  r = run_command(kWord2vec + " neighbors --vectors " + value + " x");
  expect_one_line_error(r, 1, "value.txt:2: value 2 of 'x' is not a number: '\\xe9t\\xe9'");
  EXPECT_TRUE(datasets::valid_utf8(r.output)) << r.output;
}

// rnnlab-sentiment's model.vectors reads what rnnlab writes, a word with a
// control character included; model.vectors_format says the format where
// the name does not.
TEST(Word2VecCli, SentimentReadsTheVectorsRnnlabWrites) {
  TempDir dir;
  write_file(dir.file("pos.txt"), "good film\ngood good\nfine film\n");
  write_file(dir.file("neg.txt"), "bad film\nbad bad\ndull film\n");
  const std::string cfg = write_file(
      dir.file("c.yaml"), "run:\n  data_root: " + dir.path.string() +
                              "\n  progress: lines\n"
                              "data:\n  class_files: [neg=neg.txt, pos=pos.txt]\n"
                              "  dev_fraction: 0.34\n  test_fraction: 0\n  batch_size: 2\n"
                              "model:\n  embedding_dim: 3\n  rnn:\n    type: gru\n    hidden: 4\n"
                              "train:\n  max_epochs: 1\n");
  auto wv = datasets::make_word_vectors({"a\x05"
                                         "b",
                                         "good", "film", std::string("\0", 1)},
                                        torch::rand({4, 3}));
  const std::string kSentiment = std::string(RNNLAB_BINARY_DIR) + "/bin/rnnlab-sentiment";
  int run = 0;
  for (const std::string name : {"vectors.txt", "vectors.bin", "vectors"}) {
    for (bool binary : {false, true}) {
      if (name != "vectors" && binary != (name == "vectors.bin")) continue;
      datasets::write_word2vec(wv, dir.file(name), binary);
      std::string cmd = kSentiment + " train " + cfg + " --run-dir " +
                        dir.file("run" + std::to_string(run++)) +
                        " --set model.vectors=" + dir.file(name);
      if (name == "vectors") {
        // auto cannot tell: refused before any run directory.
        expect_one_line_error(run_command(cmd), 2, "model.vectors_format");
        cmd += std::string(" --set model.vectors_format=") + (binary ? "binary" : "text");
      }
      auto r = run_command(cmd);
      ASSERT_EQ(r.code, 0) << cmd << "\n" << r.output;
      const auto summary = nlohmann::json::parse(
          test::read_all(dir.file("run" + std::to_string(run - 1)) + "/summary.json"));
      EXPECT_EQ(summary["vectors_covered"], 2) << summary.dump();
    }
  }
}

}  // namespace
}  // namespace rnnlab
