// The quick MR experiment on the real data (ctest -L slow): one seeded split
// of MR's 10,662 snippets, a bidirectional LSTM over random word vectors,
// must reach 75 % test accuracy (the bar for mr_quick.yaml) as the
// mean of seeds 1-3, and predict and eval work on the trained run. One seed
// is not enough: on this split the seed alone moves test accuracy by
// several points (seeds 1-4: 74.02, 75.61, 76.27, 76.74; seed 1 gave 76.92
// before the batch order got its own seed stream). Skipped without data/mr.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>

#include "tests/support/support.h"

namespace fs = std::filesystem;

namespace rnnlab {
namespace {

using test::run_command;
using test::TempDir;

const std::string kBin = std::string(RNNLAB_BINARY_DIR) + "/bin/rnnlab-sentiment";
const std::string kData = std::string(RNNLAB_SOURCE_DIR) + "/data";

TEST(SentimentSlow, MrQuickReaches75Percent) {
  if (!fs::exists(kData + "/mr/rt-polarity.pos")) GTEST_SKIP() << "data/mr is missing";
  TempDir dir;
  std::string run = dir.file("run");
  auto r = run_command(kBin + " train " + RNNLAB_SOURCE_DIR +
                       "/experiments/sentiment/mr_quick.yaml --set run.data_root=" + kData +
                       " --set run.progress=lines --set run.repeats=3 --run-dir " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  auto s = nlohmann::json::parse(test::read_all(run + "/summary.json"));
  EXPECT_EQ(s["runs_finished"], 3);
  EXPECT_GE(s["test_accuracy_mean"].get<double>(), 75.0) << r.output;
  EXPECT_EQ(s["test_sentences_mean"], 1066);

  // stdout alone (run_command adds 2>&1): the parent's "using sub-run" note
  // goes to stderr.
  auto p = run_command("(" + kBin + " predict --run " + run +
                       " 'a gorgeous , witty , seductive movie .' 'a dull , lifeless mess .'"
                       " 2>/dev/null)");
  ASSERT_EQ(p.code, 0) << p.output;
  EXPECT_EQ(p.output.rfind("pos\t", 0), 0u) << p.output;
  EXPECT_NE(p.output.find("\nneg\t"), std::string::npos) << p.output;
  auto e = run_command(kBin + " eval --run " + run + " --class pos=" + kData +
                       "/mr/rt-polarity.pos --class neg=" + kData + "/mr/rt-polarity.neg" +
                       " 2>/dev/null");
  ASSERT_EQ(e.code, 0) << e.output;
  EXPECT_NE(e.output.find("10662 sentences"), std::string::npos) << e.output;
}

}  // namespace
}  // namespace rnnlab
