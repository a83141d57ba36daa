// The rnnlab-lm binary: --help, one-line errors and exit codes, --print-config,
// and Ctrl-C followed by --resume.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/support.h"

namespace rnnlab {
namespace {

using test::expect_one_line_error;
using test::run_command;
using test::TempDir;
using test::write_file;

using test::kLm;

/// A tiny but complete experiment config around `corpus`.
std::string tiny_config(const TempDir& dir, const std::string& corpus,
                        const std::string& extra = "") {
  return write_file(dir.file("exp.yaml"),
                    "data:\n  train: " + corpus +
                        "\n  batch_size: 4\n  bptt: 16\nmodel:\n  embedding: 8\n  rnn:\n"
                        "    hidden: 16\ntrain:\n  max_steps: 20\n  eval_every: 10\n"
                        "sample:\n  length: 20\nrun:\n  progress: lines\n" +
                        extra);
}

TEST(Cli, HelpListsSubcommands) {
  auto r = run_command(kLm + " --help");
  EXPECT_EQ(r.code, 0);
  for (const char* s : {"train", "generate", "eval"})
    EXPECT_NE(r.output.find(s), std::string::npos);
  r = run_command(kLm + " train --help");
  EXPECT_EQ(r.code, 0);
  for (const char* s : {"--set", "--resume", "--run-dir", "--print-config"})
    EXPECT_NE(r.output.find(s), std::string::npos) << s;
}

TEST(Cli, UsageErrorsExitWithTwo) {
  expect_one_line_error(run_command(kLm), 2, "");
  expect_one_line_error(run_command(kLm + " train --bogus"), 2, "--bogus");
  expect_one_line_error(run_command(kLm + " train"), 2, "a config file is required");
}

TEST(Cli, MisspelledKeyIsOneLineAndExitsTwo) {
  TempDir dir;
  std::string cfg = write_file(dir.file("lm.yaml"),
                               "data:\n  train: x.txt\nmodel:\n  rnn:\n"
                               "    hiden: 64\n");
  auto r = run_command(kLm + " train " + cfg);
  expect_one_line_error(
      r, 2, "unknown key 'model.rnn.hiden' (" + cfg + ":5); did you mean 'model.rnn.hidden'?");
  r = run_command(kLm + " train " + cfg + " --set model.rnn.hidden=64");
  expect_one_line_error(r, 2, "unknown key 'model.rnn.hiden'");
  std::string good = tiny_config(dir, "x.txt");
  expect_one_line_error(run_command(kLm + " train " + good + " --set optim.lr=big"), 2,
                        "key 'optim.lr' (--set): expected a number, got 'big'");
  expect_one_line_error(run_command(kLm + " train " + dir.file("none.yaml")), 2, "does not exist");
}

TEST(Cli, SenselessScheduleAndInitialisationKeysAreConfigErrors) {
  TempDir dir;
  std::string cfg = tiny_config(dir, "x.txt");
  expect_one_line_error(run_command(kLm + " train " + cfg + " --set optim.decay_epochs=1"), 2,
                        "key 'optim.decay_epochs'");
  expect_one_line_error(run_command(kLm + " train " + cfg + " --set optim.decay_start=4"), 2,
                        "only the step schedule uses it");
  expect_one_line_error(
      run_command(kLm + " train " + cfg +
                  " --set model.init_uniform=0.1 --set model.rnn.forget_bias=one"),
      2, "key 'model.init_uniform'");
  expect_one_line_error(run_command(kLm + " train " + cfg + " --set data.oov=skip"), 2,
                        "key 'data.oov'");
  // Word vectors need words, a file name that tells the format, and no other start.
  expect_one_line_error(
      run_command(kLm + " train " + cfg + " --set model.vectors=v.txt"), 2,
      "key 'model.vectors' (--set): word vectors need data.tokenizer.type: word (it is "
      "'char')");
  const std::string word = " --set data.tokenizer.type=word";
  expect_one_line_error(
      run_command(kLm + " train " + cfg + word + " --set model.vectors=v.w2v"), 2,
      "key 'model.vectors_format': auto cannot tell from the name 'v.w2v'");
  expect_one_line_error(
      run_command(kLm + " train " + cfg + word +
                  " --set model.vectors=v.txt --set model.init_from=run"),
      2, "key 'model.vectors' (--set): the embedding comes from model.init_from's run");
}

TEST(Cli, DataErrorsExitWithOne) {
  TempDir dir;
  auto r = run_command(kLm + " train " + tiny_config(dir, dir.file("missing.txt")) + " --run-dir " +
                       dir.file("run1"));
  expect_one_line_error(r, 1, dir.file("missing.txt"));
  write_file(dir.file("empty.txt"), "");
  r = run_command(kLm + " train " + tiny_config(dir, dir.file("empty.txt")) + " --run-dir " +
                  dir.file("run2"));
  expect_one_line_error(r, 1, "empty");
  write_file(dir.file("bad.txt"), "good line\nbad \xff byte\n");
  r = run_command(kLm + " train " + tiny_config(dir, dir.file("bad.txt")) + " --run-dir " +
                  dir.file("run3"));
  expect_one_line_error(r, 1, "bad.txt:2");
  expect_one_line_error(run_command(kLm + " generate --run " + dir.file("nowhere")), 2,
                        "does not exist");
}

TEST(Cli, RunDirectoryWithoutAModelIsAnError) {
  TempDir dir;
  std::string corpus = write_file(dir.file("corpus.txt"), test::tiny_corpus());
  std::filesystem::create_directories(dir.path / "run");
  auto r = run_command(kLm + " train " + tiny_config(dir, corpus) + " --print-config > " +
                       dir.file("run/config.yaml"));
  ASSERT_EQ(r.code, 0) << r.output;
  for (const std::string& cmd : {" eval --run " + dir.file("run") + " --text " + corpus,
                                 " generate --run " + dir.file("run"),
                                 " inspect --run " + dir.file("run") + " --text " + corpus})
    expect_one_line_error(run_command(kLm + cmd), 1, dir.file("run"));
}

TEST(Cli, PrintConfigShowsTheResolvedConfig) {
  TempDir dir;
  auto r = run_command(kLm + " train " + tiny_config(dir, "x.txt") +
                       " --set model.rnn.hidden=77 --print-config");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("hidden: 77"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("impl: custom"), std::string::npos) << r.output;  // a default
}

TEST(Cli, InterruptSavesACheckpointAndResumeFinishes) {
  TempDir dir;
  std::string corpus = write_file(dir.file("corpus.txt"), test::tiny_corpus(2000));
  std::string cfg = tiny_config(dir, corpus, "");
  std::string run = dir.file("run");
  // Long enough to be interrupted: SIGINT after 3 seconds.
  auto r =
      run_command("timeout --foreground --preserve-status -s INT 3 " + kLm + " train " + cfg +
                  " --set train.max_steps=1000000 --set train.eval_every=100000 --run-dir " + run);
  EXPECT_EQ(r.code, 130) << r.output;
  EXPECT_NE(r.output.find("checkpoint saved"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("error: stopped by SIGINT at update"), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::exists(run + "/checkpoint_last.pt"));
  // Resume with a reachable end: --set applies on top of the saved config.
  r = run_command(kLm + " train --resume " + run +
                  " --set train.max_steps=1 --set sample.length=5");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::exists(run + "/summary.json"));
}

}  // namespace
}  // namespace rnnlab

namespace rnnlab {
namespace {

const std::string kLmBin = std::string(RNNLAB_BINARY_DIR) + "/bin/rnnlab-lm";
const std::string kTranslateBin = std::string(RNNLAB_BINARY_DIR) + "/bin/rnnlab-translate";

TEST(Cli, RunDirectoriesThatAreNotThisAppsRunsAreRefusedByName) {
  TempDir dir;
  std::string corpus = write_file(dir.file("c.txt"), test::tiny_corpus(200));
  std::string cfg =
      write_file(dir.file("exp.yaml"), "data:\n  train: " + corpus +
                                           "\n  batch_size: 4\n  bptt: 16\nmodel:\n  embedding: 8\n"
                                           "  rnn:\n    hidden: 16\ntrain:\n  max_steps: 4\n"
                                           "run:\n  progress: lines\n");
  std::string run = dir.file("run");
  ASSERT_EQ(run_command(kLmBin + " train " + cfg + " --run-dir " + run).code, 0);
  // config.yaml names the app that wrote it; another app refuses the run by name.
  EXPECT_EQ(test::read_all(run + "/config.yaml").rfind("# rnnlab-lm run\n", 0), 0u);
  expect_one_line_error(run_command(kTranslateBin + " translate --run " + run + " </dev/null"), 2,
                        "'" + run + "' is a rnnlab-lm run, not a rnnlab-translate one");
  // A run written before that first line: the unknown keys give it away.
  std::string text = test::read_all(run + "/config.yaml");
  write_file(run + "/config.yaml", text.substr(text.find('\n') + 1));
  expect_one_line_error(run_command(kTranslateBin + " translate --run " + run + " </dev/null"), 2,
                        "is not a rnnlab-translate run (a run of another app?)");
  // A file, a directory without config.yaml and a missing one: all usage errors.
  expect_one_line_error(run_command(kLmBin + " train --resume " + corpus), 2,
                        "'" + corpus + "' is a file, not a run directory");
  expect_one_line_error(run_command(kLmBin + " train --resume " + dir.path.string()), 2,
                        "is not a run directory (no config.yaml)");
  expect_one_line_error(run_command(kLmBin + " train --resume " + dir.file("nowhere")), 2,
                        "does not exist");
  // Names that would lead out of the run or run.dir.
  expect_one_line_error(run_command(kLmBin + " generate --run " + run + " --subrun ../run"), 2,
                        "--subrun '../run' is not a sub-run name");
  expect_one_line_error(run_command(kLmBin + " train " + cfg + " --set run.name=../../x"), 2,
                        "key 'run.name' (--set): '../../x' is not a plain name");
  expect_one_line_error(run_command(kLmBin + " nosuch"), 2,
                        "unknown command 'nosuch'; commands: train, generate, eval, inspect");
}

TEST(Cli, ARenamedCopyOfTheBinaryWritesRunsOfItsApp) {
  // The app names itself, not argv[0]: a run started from a copy of the
  // binary under another name is an rnnlab-lm run that rnnlab-lm resumes.
  TempDir dir;
  std::string corpus = write_file(dir.file("c.txt"), test::tiny_corpus(200));
  std::string cfg =
      write_file(dir.file("exp.yaml"), "data:\n  train: " + corpus +
                                           "\n  batch_size: 4\n  bptt: 16\nmodel:\n  embedding: 8\n"
                                           "  rnn:\n    hidden: 16\ntrain:\n  max_steps: 4\n"
                                           "run:\n  progress: lines\n");
  std::string copy = dir.file("lm-copy");
  std::filesystem::copy_file(kLmBin, copy);
  std::filesystem::permissions(copy, std::filesystem::perms::owner_exec,
                               std::filesystem::perm_options::add);
  std::string run = dir.file("run");
  ASSERT_EQ(run_command(copy + " train " + cfg + " --run-dir " + run).code, 0);
  EXPECT_EQ(test::read_all(run + "/config.yaml").rfind("# rnnlab-lm run\n", 0), 0u);
  auto r = run_command(kLmBin + " train --resume " + run + " --set train.max_steps=6");
  EXPECT_EQ(r.code, 0) << r.output;
}

/// The number after `key ` in `line` ("ppl 12.345").
double number_after(const std::string& text, const std::string& key) {
  size_t at = text.find(key + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + key.size() + 1));
}

TEST(Cli, ExportedLanguageModelsScoreTheSameInPythonAndInitialiseNewRuns) {
  TempDir dir;
  std::string corpus = write_file(dir.file("c.txt"), test::tiny_corpus(300));
  std::string cfg = write_file(
      dir.file("exp.yaml"), "data:\n  train: " + corpus +
                                "\n  tokenizer:\n    type: word\n    split_punctuation: false\n  "
                                "batch_size: 4\n  bptt: 16\n  eval_batch_size: 3\n"
                                "model:\n  embedding: 8\n  rnn:\n    hidden: 16\n    layers: 2\n"
                                "train:\n  max_steps: 30\n  eval_every: 15\nsample:\n  length: 0\n"
                                "run:\n  progress: lines\n");
  std::string run = dir.file("run");
  ASSERT_EQ(run_command(kLmBin + " train " + cfg + " --run-dir " + run).code, 0);
  std::string out = dir.file("lm.pt");
  auto r = run_command(kLmBin + " export --run " + run + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("wrote " + out + " (11 tensors)"), std::string::npos) << r.output;
  for (const char* f : {"lm.json", "lm.vocab.json"})
    EXPECT_TRUE(std::filesystem::exists(dir.file(f))) << f;
  std::string json = test::read_all(dir.file("lm.json"));
  EXPECT_NE(json.find("\"class\": \"LSTM\""), std::string::npos);
  EXPECT_NE(json.find("\"checkpoint\": \"checkpoint_best.pt\""), std::string::npos);

  // Python's PyTorch, from the files alone, gives rnnlab's perplexity.
  auto eval = run_command(kLmBin + " eval --run " + run + " --text " + corpus);
  ASSERT_EQ(eval.code, 0) << eval.output;
  const double ppl = number_after(eval.output, "ppl");
  ASSERT_GT(ppl, 1.0) << eval.output;
  if (run_command("/usr/bin/python3 -c 'import torch'").code != 0) {
    GTEST_SKIP() << "python3-torch is not installed (scripts/setup.sh installs it)";
  }
  auto py = run_command("/usr/bin/python3 " + std::string(RNNLAB_SOURCE_DIR) +
                        "/scripts/score_exported_lm.py " + out + " " + corpus + " --batch 3");
  ASSERT_EQ(py.code, 0) << py.output;
  EXPECT_NEAR(number_after(py.output, "ppl"), ppl, 1e-4 * ppl) << eval.output << py.output;

  // The file initialises a new run of the same shape: every tensor read, said in its log.
  std::string run2 = dir.file("run2");
  r = run_command(kLmBin + " train " + cfg + " --run-dir " + run2 +
                  " --set model.init_from_pytorch=" + out + " --set train.max_steps=2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(
      test::read_all(run2 + "/log.txt")
          .find("model.init_from_pytorch: 11 of the model's 11 tensors read from '" + out + "'"),
      std::string::npos);
  // ... and a run of another shape refuses it, before training.
  expect_one_line_error(
      run_command(kLmBin + " train " + cfg + " --run-dir " + dir.file("run3") +
                  " --set model.init_from_pytorch=" + out + " --set model.rnn.hidden=12"),
      1,
      "key 'model.init_from_pytorch': '" + out +
          "': 'rnn.weight_ih_l0' is [64, 8] in the file, [48, 8] in the model");
  EXPECT_FALSE(std::filesystem::exists(dir.file("run3")));
  // Export's own mistakes.
  expect_one_line_error(run_command(kLmBin + " export --run " + run + " --out " + run + "/x.pt"), 2,
                        "is inside the run directory");
  expect_one_line_error(run_command(kLmBin + " export --run " + run), 2, "--out is required");
  expect_one_line_error(
      run_command(kLmBin + " export --run " + run + " --out " + dir.file("no/such/dir.pt")), 2,
      "does not exist");
}

// ULMFiT's second step: a language model trained on one text goes on
// training on another, from the first run's tokenizer and weights.
TEST(Cli, InitFromAnotherRunFineTunesItsModelOnNewText) {
  TempDir dir;
  std::string general = write_file(dir.file("general.txt"), test::tiny_corpus(300));
  std::string corpus = test::tiny_corpus(120);
  std::string task = write_file(dir.file("task.txt"), corpus.substr(corpus.size() / 2) + "zebra\n");
  auto config = [&](const std::string& text) {
    return write_file(dir.file("lm_" + std::to_string(text.size()) + ".yaml"),
                      "data:\n  train: " + text +
                          "\n  tokenizer:\n    type: word\n  batch_size: 4\n  bptt: 16\n"
                          "model:\n  embedding: 8\n  rnn:\n    hidden: 16\n"
                          "train:\n  max_steps: 20\n  eval_every: 10\nsample:\n  length: 0\n"
                          "run:\n  progress: lines\n");
  };
  std::string pre = dir.file("pre");
  ASSERT_EQ(run_command(kLm + " train " + config(general) + " --run-dir " + pre).code, 0);
  // With a rate too small to move a weight, the new run is the old model:
  // the same perplexity on any text, with the old run's vocabulary.
  std::string tuned = dir.file("tuned");
  auto r = run_command(kLm + " train " + config(task) + " --run-dir " + tuned +
                       " --set model.init_from=" + pre +
                       " --set optim.lr=1e-30 --set train.max_steps=2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(test::read_all(tuned + "/log.txt").find("model.init_from: the tokenizer (vocabulary "),
            std::string::npos);
  const std::string vocab = test::read_all(pre + "/tokenizer/vocab.json");
  ASSERT_NE(vocab.find("\"the\""), std::string::npos) << vocab;
  EXPECT_EQ(vocab.find("zebra"), std::string::npos);
  EXPECT_EQ(test::read_all(tuned + "/tokenizer/vocab.json"), vocab)
      << "the tokenizer is the pre-trained run's (task.txt's 'zebra' is <unk>)";
  auto a = run_command(kLm + " eval --run " + pre + " --text " + task);
  auto b = run_command(kLm + " eval --run " + tuned + " --text " + task);
  ASSERT_EQ(a.code, 0) << a.output;
  ASSERT_EQ(b.code, 0) << b.output;
  EXPECT_NEAR(number_after(a.output, "ppl"), number_after(b.output, "ppl"),
              1e-6 * number_after(a.output, "ppl"))
      << a.output << b.output;
  // Training on the task's text then lowers its perplexity.
  r = run_command(kLm + " train " + config(task) + " --run-dir " + dir.file("tuned2") +
                  " --set model.init_from=" + pre + " --set train.max_steps=40");
  ASSERT_EQ(r.code, 0) << r.output;
  auto c = run_command(kLm + " eval --run " + dir.file("tuned2") + " --text " + task);
  EXPECT_LT(number_after(c.output, "ppl"), number_after(a.output, "ppl")) << a.output << c.output;
  // Another shape, both sources, no run: one line, before any run directory.
  std::string never = dir.file("never");
  auto refuse = [&](const std::string& sets, const std::string& text) {
    expect_one_line_error(
        run_command(kLm + " train " + config(task) + " --run-dir " + never + " " + sets), 2, text);
    EXPECT_FALSE(std::filesystem::exists(never)) << sets;
  };
  refuse("--set model.init_from=" + pre + " --set model.rnn.hidden=12",
         "key 'model.rnn.hidden': 12 here, 16 in model.init_from's language model '" + pre +
             "'; they must match");
  refuse("--set model.init_from=" + pre + " --set model.init_from_pytorch=x.pt",
         "model.init_from_pytorch");
  refuse("--set model.init_from=" + dir.file("nothing"), "key 'model.init_from'");
}

}  // namespace
}  // namespace rnnlab
