// `rnnlab-word2vec train`, as a user runs it: both engines learn the same
// structure to the same quality; one seed gives the same vectors; SIGTERM in
// the middle of an epoch and --resume end where an unstopped run ends; bad
// configs and data give one-line errors before a run directory exists.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "apps/framework/torch_export.h"
#include "datasets/word_vectors.h"
#include "tests/support/support.h"

namespace fs = std::filesystem;

namespace rnnlab {
namespace {

using test::expect_one_line_error;
using test::run_command;
using test::TempDir;
using test::write_file;

using test::kWord2vec;
constexpr int kClasses = 10, kPerClass = 40;
// The Spearman correlation of a perfect separation with the class pairs'
// 10-or-0 scores: rank correlation with a binary variable of p = 39/399
// positives, sqrt(3 p (1 - p)) (the ties keep it below 1).
const double kCeiling = [] {
  double p = (kPerClass - 1.0) / (kClasses * kPerClass - 1.0);
  return std::sqrt(3 * p * (1 - p));
}();

std::string word(int c, int i) {
  return std::string(1, static_cast<char>('a' + c)) + std::to_string(i);
}

// A corpus with planted structure: each line is about one "topic" (class) and
// draws its words from that class, with two function words ("the", "of")
// everywhere. Words of a class share their contexts, so good vectors put
// them together.
std::string planted_corpus(int lines) {
  std::string text;
  unsigned x = 2024;
  auto next = [&x] {
    x = x * 1103515245u + 12345u;
    return (x >> 16) & 0x7FFF;
  };
  for (int l = 0; l < lines; ++l) {
    int c = static_cast<int>(next() % kClasses);
    for (int j = 0; j < 12; ++j) {
      text +=
          j % 4 == 3 ? (next() % 2 ? "the" : "of") : word(c, static_cast<int>(next() % kPerClass));
      text += j + 1 < 12 ? " " : "\n";
    }
  }
  return text;
}

// Every pair of the 400 class words, scored 10 within a class and 0 across: the
// Spearman correlation of cosines with it measures how well vectors separate
// the classes.
std::string class_pairs() {
  std::string csv = "Word 1,Word 2,Human (mean)\n";
  for (int a = 0; a < kClasses * kPerClass; ++a)
    for (int b = a + 1; b < kClasses * kPerClass; ++b)
      csv += word(a / kPerClass, a % kPerClass) + "," + word(b / kPerClass, b % kPerClass) + "," +
             (a / kPerClass == b / kPerClass ? "10" : "0") + "\n";
  return csv;
}

// A config over the planted corpus in `dir`, evaluated on the class pairs.
std::string config(const TempDir& dir, int lines = 4000) {
  write_file(dir.file("corpus.txt"), planted_corpus(lines));
  write_file(dir.file("pairs.csv"), class_pairs());
  return write_file(
      dir.file("w2v.yaml"),
      "run: {data_root: " + dir.path.string() +
          ", progress: lines, threads: 1}\n"
          "data: {corpus: [corpus.txt], min_count: 1, batch_words: 100}\n"
          "model: {arch: skipgram, dim: 20, window: 3, negative: 5, sample: 0}\n"
          "train: {max_epochs: 5}\n"
          "optim: {lr: 0.025, min_lr: 0.0001}\n"
          "eval: {analogy: '', simlex999: '', rarewords: '', wordsim353: pairs.csv}\n");
}

TEST(Word2VecTrain, BothEnginesLearnThePlantedClassesEquallyWell) {
  TempDir dir;
  std::string cfg = config(dir);
  for (const char* arch : {"skipgram", "cbow"}) {
    double score[2];
    int k = 0;
    for (const char* engine : {"hogwild", "autograd"}) {
      std::string run = dir.file(std::string(arch) + "-" + engine);
      auto r = run_command(kWord2vec + " train " + cfg + " --set model.arch=" + arch +
                           " --set train.engine=" + engine + " --run-dir " + run);
      ASSERT_EQ(r.code, 0) << r.output;
      nlohmann::json s = test::read_summary(run);
      EXPECT_EQ(s["vocab_size"], kClasses * kPerClass + 2);
      EXPECT_EQ(s["wordsim353_oov"], 0);
      EXPECT_GT(s["words_per_sec"].get<double>(), 0);
      score[k++] = s["wordsim353_spearman"].get<double>();
      // Both formats hold the same vectors (the text one to 6 significant digits).
      datasets::WordVectors bin = datasets::read_word2vec(run + "/vectors.bin");
      datasets::WordVectors txt = datasets::read_word2vec(run + "/vectors.txt");
      ASSERT_EQ(bin.words, txt.words);
      EXPECT_TRUE(torch::allclose(bin.vectors, txt.vectors, 1e-5, 1e-5));
    }
    // Untrained vectors score about 0 and perfectly separated classes
    // kCeiling (the scores are 10 or 0: ties); both engines get close to it,
    // and as close as each other.
    EXPECT_GT(score[0], 0.8 * kCeiling) << arch << " hogwild";
    EXPECT_GT(score[1], 0.8 * kCeiling) << arch << " autograd";
    EXPECT_LT(std::abs(score[0] - score[1]), 0.05 * kCeiling) << arch;
    std::printf("%s: hogwild %.4f, autograd %.4f of %.4f\n", arch, score[0], score[1], kCeiling);
  }
}

TEST(Word2VecTrain, ExportsSyn0AndSyn1negForPython) {
  TempDir dir;
  std::string run = dir.file("run");
  auto r = run_command(kWord2vec + " train " + config(dir, 600) +
                       " --set train.max_epochs=1 --run-dir " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  std::string out = dir.file("w2v.pt");
  r = run_command(kWord2vec + " export --run " + run + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  std::string json = test::expect_python_loads_export(out);
  EXPECT_NE(json.find("\"input\""), std::string::npos);
  EXPECT_NE(json.find("\"output\""), std::string::npos);
  // input.weight is what vectors.bin holds, row for row, and the vocabulary its words.
  datasets::WordVectors wv = datasets::read_word2vec(run + "/vectors.bin");
  NamedTensors t = read_state_dict(out);
  ASSERT_EQ(t[0].first, "input.weight");
  EXPECT_TRUE(torch::allclose(t[0].second, wv.vectors));
  auto words = nlohmann::json::parse(test::read_all(dir.file("w2v.vocab.json")));
  EXPECT_EQ(words.get<std::vector<std::string>>(), wv.words);
}

TEST(Word2VecTrain, AutogradOnTwoProcessesTrainsLikeOne) {
  TempDir dir;
  // Plain SGD on summed pair losses, sparse gradients: every rank draws the
  // batch's pairs and negatives and trains on its half of the pairs.
  std::string cmd = kWord2vec + " train " + config(dir, 600) +
                    " --set train.engine=autograd --set train.max_epochs=1"
                    " --set train.log_every=1";
  test::train_on_one_and_two(cmd, dir.path / "one", dir.path / "two");
  test::expect_same_training(dir.path / "one", dir.path / "two", 0, 1e-5);
  datasets::WordVectors a = datasets::read_word2vec(dir.file("one") + "/vectors.bin");
  datasets::WordVectors b = datasets::read_word2vec(dir.file("two") + "/vectors.bin");
  ASSERT_EQ(a.words, b.words);
  EXPECT_TRUE(torch::allclose(a.vectors, b.vectors, 1e-4, 1e-5));
  // The lock-free engine trains in one process only.
  test::expect_one_line_error(run_command(kWord2vec + " train " + config(dir, 600) +
                                          " --nproc 2 --run-dir " + dir.file("three")),
                              2, "this engine trains in one process only");
}

TEST(Word2VecTrain, OneSeedGivesTheSameVectors) {
  TempDir dir;
  std::string cfg = config(dir, 1000);
  for (const char* engine : {"hogwild", "autograd"}) {
    std::string a = dir.file(std::string(engine) + "-a"), b = dir.file(std::string(engine) + "-b"),
                c = dir.file(std::string(engine) + "-c");
    std::string cmd = kWord2vec + " train " + cfg + " --set train.engine=" + engine;
    ASSERT_EQ(run_command(cmd + " --run-dir " + a).code, 0);
    ASSERT_EQ(run_command(cmd + " --run-dir " + b).code, 0);
    ASSERT_EQ(run_command(cmd + " --set run.seed=2 --run-dir " + c).code, 0);
    EXPECT_EQ(test::read_all(a + "/vectors.bin"), test::read_all(b + "/vectors.bin")) << engine;
    EXPECT_NE(test::read_all(a + "/vectors.bin"), test::read_all(c + "/vectors.bin")) << engine;
  }
}

TEST(Word2VecTrain, SigtermInAnEpochThenResumeEndsLikeAnUnstoppedRun) {
  TempDir dir;
  std::string cfg = config(dir, 2000);
  // hogwild with one thread is deterministic; the stop lands inside an epoch
  // (24k words each), where the checkpoint records each thread's position.
  for (const char* engine : {"hogwild", "autograd"}) {
    std::string epochs = std::string(engine) == "hogwild" ? "120" : "12";
    std::string cmd = kWord2vec + " train " + cfg + " --set train.engine=" + engine +
                      " --set train.max_epochs=" + epochs;
    std::string straight = dir.file(std::string(engine) + "-straight");
    ASSERT_EQ(run_command(cmd + " --run-dir " + straight).code, 0);
    std::string run = dir.file(std::string(engine) + "-stopped");
    auto r = run_command("(" + cmd + " --run-dir " + run + " & pid=$!; while [ ! -f " + run +
                         "/checkpoint_last.pt ]; do sleep 0.01; done; sleep 0.3; kill -TERM $pid; "
                         "wait $pid; echo exit=$?)");
    ASSERT_NE(r.output.find("exit=143"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("error: stopped by SIGTERM"), std::string::npos) << r.output;
    ASSERT_FALSE(fs::exists(run + "/summary.json")) << "the run ended before the signal";
    r = run_command(kWord2vec + " train --resume " + run);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
    EXPECT_EQ(test::read_all(run + "/vectors.bin"), test::read_all(straight + "/vectors.bin"))
        << engine;
    EXPECT_EQ(test::read_summary(run)["wordsim353_spearman"],
              test::read_summary(straight)["wordsim353_spearman"]);
    test::expect_complete_run_unchanged_by_resume(kWord2vec, run);
  }
}

TEST(Word2VecTrain, HogwildStoppedByTheTimeLimitInAnEpochResumesThere) {
  TempDir dir;
  // Epochs of 480k words (about 0.3 s each), the engine reporting every 0.02 s:
  // a limit of 0.06 s ends the run inside the first epoch.
  std::string cfg = config(dir, 40000);
  std::string cmd = kWord2vec + " train " + cfg + " --set train.max_epochs=2";
  std::string straight = dir.file("straight"), run = dir.file("limited");
  ASSERT_EQ(run_command(cmd + " --run-dir " + straight).code, 0);
  auto r = run_command(cmd + " --set train.max_minutes=0.001 --run-dir " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(test::read_summary(run)["stop_reason"], "time limit");
  std::string state = test::read_all(run + "/checkpoint_last.pt.yml");
  EXPECT_NE(state.find("cursor:"), std::string::npos) << state;
  r = run_command(kWord2vec + " train --resume " + run + " --set train.max_minutes=0");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(test::read_summary(run)["stop_reason"], "done");
  EXPECT_EQ(test::read_all(run + "/vectors.bin"), test::read_all(straight + "/vectors.bin"));
}

TEST(Word2VecTrain, BadConfigsAndDataFailBeforeARunDirectoryExists) {
  TempDir dir;
  std::string cfg = config(dir, 50);
  std::string run = dir.file("run");
  auto train = [&](const std::string& sets) {
    return run_command(kWord2vec + " train " + cfg + " " + sets + " --run-dir " + run);
  };
  expect_one_line_error(train("--set model.hs=true"), 2, "key 'model.hs' (--set)");
  expect_one_line_error(train("--set model.negative=0"), 2, "key 'model.negative'");
  expect_one_line_error(train("--set optim.name=adam"), 2, "the fast trainer is plain SGD");
  expect_one_line_error(train("--set train.max_epochs=0"), 2, "key 'train.max_epochs'");
  expect_one_line_error(train("--set train.max_steps=5"), 2, "use train.max_epochs or");
  expect_one_line_error(train("--set model.dimm=5"), 2, "did you mean 'model.dim'?");
  expect_one_line_error(train("--set model.arch=glove"), 2, "key 'model.arch'");
  expect_one_line_error(train("--set optim.min_lr=1"), 2, "key 'optim.min_lr'");
  expect_one_line_error(train("--set data.corpus=[missing.txt]"), 1, "data.corpus");
  expect_one_line_error(train("--set eval.wordsim353=none.csv"), 1, "eval.wordsim353");
  write_file(dir.file("empty.txt"), " \n\n");
  expect_one_line_error(train("--set data.corpus=[empty.txt]"), 1, "empty.txt");
  expect_one_line_error(train("--set data.min_count=100000"), 1, "min_count=100000");
  // Vectors its own readers would refuse: a corpus that is not UTF-8 (read
  // as is, without data.normalize) fails before training, naming the place.
  write_file(dir.file("latin1.txt"), "the cat sat\non the caf\xe9 mat\n");
  expect_one_line_error(train("--set data.corpus=[latin1.txt]"), 1,
                        "latin1.txt:2: invalid UTF-8 byte 0xe9 at column 11");
  fs::create_directories(dir.file("adir"));
  expect_one_line_error(train("--set data.corpus=[adir]"), 1, "adir' is a directory");
  expect_one_line_error(train("--set output.text=false --set output.binary=false"), 2,
                        "key 'output.binary' (--set): with output.text false too");
  // Evaluation files are read through before training, not only found.
  write_file(dir.file("empty.csv"), "");
  expect_one_line_error(train("--set eval.wordsim353=empty.csv"), 1, "empty.csv");
  write_file(dir.file("words.csv"), "a,b\nc,d\n");
  expect_one_line_error(train("--set eval.wordsim353=words.csv"), 1,
                        "words.csv: no word pair with a numeric score");
  write_file(dir.file("questions.txt"), ": capital\nathens greece\n");
  expect_one_line_error(train("--set eval.analogy=questions.txt"), 1,
                        "questions.txt: no analogy question");
  expect_one_line_error(train("--set eval.analogy=adir"), 1, "adir");
  EXPECT_FALSE(fs::exists(run));
  // hierarchical softmax is the autograd engine's.
  auto r = train(
      "--set model.hs=true --set model.negative=0 --set train.engine=autograd "
      "--set train.max_epochs=1");
  EXPECT_EQ(r.code, 0) << r.output;
}

TEST(Word2VecTrain, ResumeRefusesAnotherModel) {
  TempDir dir;
  std::string cfg = config(dir, 200);
  std::string run = dir.file("run");
  ASSERT_EQ(run_command(kWord2vec + " train " + cfg + " --run-dir " + run).code, 0);
  expect_one_line_error(run_command(kWord2vec + " train --resume " + run + " --set model.dim=30"),
                        2, "key 'model.dim' (--set): cannot change when a run is resumed");
}

}  // namespace
}  // namespace rnnlab
