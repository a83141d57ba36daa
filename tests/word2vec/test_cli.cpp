// The rnnlab-word2vec binary: neighbours, analogies and similarity on a small
// hand-built vectors file, and its one-line errors with exit codes.
#include <gtest/gtest.h>

#include "tests/framework/test_util.h"

namespace rnnlab {
namespace {

using test::expect_one_line_error;
using test::run_command;
using test::TempDir;
using test::write_file;

const std::string kW2v = std::string(RNNLAB_BINARY_DIR) + "/bin/rnnlab-word2vec";

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
  auto r = run_command(kW2v + " neighbors --vectors " + v + " -k 2 king");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("king\n  prince"), 0u) << r.output;

  std::string q = write_file(dir.file("q.txt"),
                             ": family\nman woman king queen\nMAN WOMAN PRINCE QUEEN\nbad line\n"
                             "man woman king berlin\n");
  r = run_command(kW2v + " analogy --vectors " + v + " --questions " + q);
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
  r = run_command(kW2v + " similarity --vectors " + v + " --pairs " + p);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("3 pairs, 1 out of vocabulary"), std::string::npos) << r.output;
}

TEST(Word2VecCli, ErrorsAreOneLineWithExitCodes) {
  TempDir dir;
  std::string v = vectors(dir);
  expect_one_line_error(run_command(kW2v + " neighbors --vectors " + v + " king nowhere"), 1,
                        "word 'nowhere' is not in the vocabulary");
  expect_one_line_error(run_command(kW2v + " neighbors --vectors " + dir.file("none.bin") + " x"),
                        1, "none.bin");
  std::string bad = write_file(dir.file("bad.txt"), "2 3\nman 1 0 0\nwoman 1 1\n");
  expect_one_line_error(run_command(kW2v + " neighbors --vectors " + bad + " man"), 1,
                        "bad.txt:3: expected 3 values after 'woman', got 2");
  expect_one_line_error(run_command(kW2v + " analogy --vectors " + v), 2, "--questions");
  expect_one_line_error(run_command(kW2v), 2, "");
  expect_one_line_error(run_command(kW2v + " normalize --in " + dir.file("none.txt") + " --out " +
                                    dir.file("out.txt")),
                        1, "none.txt");
  // A directory is not a corpus: no empty output written.
  expect_one_line_error(
      run_command(kW2v + " normalize --in " + dir.path.string() + " --out " + dir.file("o.txt")), 1,
      "is a directory, not a file");
  EXPECT_FALSE(std::filesystem::exists(dir.file("o.txt")));
}

TEST(Word2VecCli, NormalizeWritesWhatDataNormalizeReads) {
  TempDir dir;
  std::string in = write_file(dir.file("in.txt"), "The Café's 2 Cats!\nSecond LINE\n");
  auto r = run_command(kW2v + " normalize --in " + in + " --out " + dir.file("out.txt"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(test::read_all(dir.file("out.txt")), "the caf   s 2 cats \nsecond line\n");
}

}  // namespace
}  // namespace rnnlab
