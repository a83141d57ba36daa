// Runs that stay right under every resume, tested on the real rnnlab-lm
// binary: a sub-run is locked by whoever trains it; a --resume --set that
// cannot take effect is refused before anything is written; a run stopped
// while it was being created resumes or restarts; a model is never scored
// with another checkpoint than the one asked for without a word.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <regex>

#include "tests/framework/small_lm.h"
#include "tests/support/support.h"

namespace rnnlab {
namespace {

namespace fs = std::filesystem;
using test::expect_one_line_error;
using test::metrics_without_time;
using test::run_command;
using test::snapshot;
using test::TempDir;
using test::write_file;

using test::kLm;

/// A small LM with validation every 10 updates, 20 updates in all.
std::string resume_config(const TempDir& dir, const std::string& extra = "") {
  return test::small_lm_config(dir, {2000, 32, 20, 10, 5, 20}, extra);
}

TEST(Resume, EachSubRunIsLockedByTheProcessThatTrainsIt) {
  TempDir dir;
  std::string run = dir.file("rep");
  ASSERT_EQ(
      run_command(kLm + " train " + resume_config(dir) + " --set run.repeats=2 --run-dir " + run)
          .code,
      0);
  fs::remove(run + "/seed6/summary.json");
  fs::remove(run + "/summary.json");
  auto before = snapshot(run);
  // Someone trains seed6 (flock(1) holds its lock, as a training process
  // does): resuming the parent must not train it too.
  auto r =
      run_command("flock " + run + "/seed6/.lock sh -c '" + kLm + " train --resume " + run + "'");
  expect_one_line_error(r, 1, "run directory '" + run + "/seed6' is in use by another process");
  // Someone trains the parent: the sub-run alone is refused.
  r = run_command("flock " + run + "/.lock sh -c '" + kLm + " train --resume " + run + "/seed6'");
  expect_one_line_error(r, 1, "run directory '" + run + "' is in use by another process");
  EXPECT_TRUE(snapshot(run) == before) << "a refused resume changed the run's files";
  // Two real processes: the parent resumes seed6 while the sub-run is asked for.
  r = run_command("(" + kLm + " train --resume " + run + " --set train.max_steps=2000 > " +
                  dir.file("a.log") + " 2>&1 & pid=$!; while ! grep -q 'resumed from' " +
                  dir.file("a.log") + "; do sleep 0.05; done; " + kLm + " train --resume " + run +
                  "/seed6; echo second=$?; kill -TERM $pid; wait $pid; echo first=$?)");
  EXPECT_NE(r.output.find("is in use by another process"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("second=1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("first=143"), std::string::npos) << r.output;
  // The first process extended seed5 (--set reaches finished sub-runs) and
  // recorded it once; the refused one recorded nothing.
  std::string resumed = test::read_all(run + "/seed5/resumed.yaml");
  EXPECT_NE(resumed.find("step:"), std::string::npos) << resumed;
  EXPECT_EQ(resumed.find("step:"), resumed.rfind("step:")) << resumed;
  EXPECT_FALSE(fs::exists(run + "/seed6/resumed.yaml"));
}

TEST(Resume, AnOverrideThatCannotTakeEffectIsRefusedAndChangesNothing) {
  TempDir dir;
  std::string run = dir.file("run");
  ASSERT_EQ(run_command(kLm + " train " + resume_config(dir) + " --run-dir " + run).code, 0);
  auto before = snapshot(run);
  for (const char* set : {"data.batch_size=4", "run.seed=7", "data.tokenizer.type=word",
                          "data.text=other.txt", "model.rnn.hidden=64", "optim.name=sgd"}) {
    std::string key = std::string(set).substr(0, std::string(set).find('='));
    auto r = run_command(kLm + " train --resume " + run + " --set " + set);
    expect_one_line_error(r, 2, "key '" + key + "' (--set): cannot change when a run is resumed");
    EXPECT_TRUE(snapshot(run) == before) << set << " changed the run's files";
  }
  // Several at once: the first one that cannot change is named, nothing recorded.
  auto r =
      run_command(kLm + " train --resume " + run + " --set train.max_steps=30 --set run.seed=2");
  expect_one_line_error(r, 2, "key 'run.seed'");
  EXPECT_FALSE(fs::exists(run + "/resumed.yaml"));
  // What may change does: limits, logging, the final sample.
  r = run_command(kLm + " train --resume " + run +
                  " --set train.max_steps=30 --set train.log_every=3 --set sample.length=5");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(test::read_summary(run)["steps"], 30);
  EXPECT_NE(test::read_all(run + "/resumed.yaml").find("train.max_steps=30"), std::string::npos);
  // The list of keys that may change is in --help's words and in --list-keys.
  r = run_command(kLm + " train --list-keys");
  EXPECT_NE(r.output.find("train.max_steps"), std::string::npos);
  EXPECT_NE(r.output.find("(may change on --resume)"), std::string::npos) << r.output;
}

TEST(Resume, OverridesOfAParentReachItsFinishedSubRuns) {
  TempDir dir;
  std::string run = dir.file("rep");
  ASSERT_EQ(
      run_command(kLm + " train " + resume_config(dir) + " --set run.repeats=2 --run-dir " + run)
          .code,
      0);
  // A longer run of every sub-run, as a plain run would be extended.
  auto r = run_command(kLm + " train --resume " + run + " --set train.max_steps=30");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* sub : {"seed5", "seed6"})
    EXPECT_EQ(test::read_summary(fs::path(run) / sub)["steps"], 30);
  EXPECT_EQ(test::read_summary(run)["steps_mean"], 30.0) << test::read_summary(run).dump();
  // Without overrides, a complete parent is left as it is.
  auto before = snapshot(run);
  r = run_command(kLm + " train --resume " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("finished before, skipped"), std::string::npos) << r.output;
}

TEST(Resume, ARunStoppedWhileBeingCreatedResumesOrStartsAgain) {
  TempDir dir;
  std::string cfg = resume_config(dir);
  std::string straight = dir.file("straight");
  ASSERT_EQ(run_command(kLm + " train " + cfg + " --run-dir " + straight).code, 0);
  // Killed while the tokenizer was written: no checkpoint, a vocabulary cut
  // short. --resume trains from the start, with the tokenizer made again.
  std::string run = dir.file("cut");
  fs::create_directories(run + "/tokenizer");
  fs::copy_file(straight + "/config.yaml", run + "/config.yaml");
  fs::copy_file(straight + "/tokenizer/tokenizer.json", run + "/tokenizer/tokenizer.json");
  write_file(run + "/tokenizer/vocab.json", "");
  write_file(run + "/log.txt", "");
  auto r = run_command(kLm + " train --resume " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("no checkpoint"), std::string::npos) << r.output;
  EXPECT_EQ(metrics_without_time(run), metrics_without_time(straight));
  EXPECT_EQ(test::read_all(run + "/tokenizer/vocab.json"),
            test::read_all(straight + "/tokenizer/vocab.json"));
  // Killed before config.yaml was in place: the directory holds only the
  // lock and a temporary. train --run-dir starts it; --resume names that command.
  std::string early = dir.file("early");
  fs::create_directories(early);
  write_file(early + "/.lock", "123\n");
  write_file(early + "/config.yaml.tmp.123", "run:\n");
  r = run_command(kLm + " train --resume " + early);
  expect_one_line_error(r, 2, "train CONFIG --run-dir " + early);
  r = run_command(kLm + " train " + cfg + " --run-dir " + early);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(metrics_without_time(early), metrics_without_time(straight));
  EXPECT_FALSE(fs::exists(early + "/config.yaml.tmp.123"));
  // A SIGTERM at any moment of the start leaves a run that one command
  // finishes: either nothing was created, or --resume completes it.
  for (const char* delay : {"0.3", "0.6", "0.9", "1.2"}) {
    std::string d = dir.file(std::string("term") + delay);
    r = run_command("(" + kLm + " train " + cfg + " --run-dir " + d +
                    " >/dev/null 2>&1 & pid=$!; sleep " + delay + "; kill -TERM $pid; wait $pid)");
    if (!fs::exists(d) || fs::is_empty(d)) continue;
    if (fs::exists(d + "/config.yaml")) {
      r = run_command(kLm + " train --resume " + d);
      ASSERT_EQ(r.code, 0) << delay << ": " << r.output;
      EXPECT_EQ(metrics_without_time(d), metrics_without_time(straight)) << delay;
    } else {
      r = run_command(kLm + " train " + cfg + " --run-dir " + d);
      ASSERT_EQ(r.code, 0) << delay << ": " << r.output;
    }
  }
}

TEST(Resume, AMissingBestCheckpointIsNeverReplacedSilently) {
  TempDir dir;
  std::string run = dir.file("run");
  ASSERT_EQ(run_command(kLm + " train " + resume_config(dir) + " --run-dir " + run).code, 0);
  auto r = run_command(kLm + " generate --run " + run + " --length 5");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("using checkpoint"), std::string::npos) << r.output;
  fs::remove(run + "/checkpoint_best.pt");
  for (const std::string& cmd :
       {std::string("generate --length 5"), "eval --text " + dir.file("corpus.txt"),
        "inspect --text " + dir.file("corpus.txt")}) {
    r = run_command(kLm + " " + cmd + " --run " + run);
    expect_one_line_error(r, 2, "checkpoint_best.pt is missing");
    EXPECT_NE(r.output.find("--checkpoint last"), std::string::npos) << r.output;
  }
  r = run_command(kLm + " generate --length 5 --checkpoint last --run " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("checkpoint_last.pt"), std::string::npos) << r.output;
  // A run without validation has only its last checkpoint, and says so.
  std::string nov = dir.file("noval");
  ASSERT_EQ(run_command(kLm + " train " + resume_config(dir) +
                        " --set data.valid_fraction=0 --run-dir " + nov)
                .code,
            0);
  r = run_command(kLm + " generate --length 5 --run " + nov);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("checkpoint_last.pt"), std::string::npos) << r.output;
}

TEST(LmCommands, GenerateWritesWhatItSamplesAndRunsSayHowTheyEnded) {
  TempDir dir;
  std::string cfg = resume_config(dir);
  // A word model: the prompt and the first word are apart; sample.length 0
  // writes an empty sample.txt.
  std::string words = dir.file("words");
  ASSERT_EQ(run_command(kLm + " train " + cfg +
                        " --set data.tokenizer.type=word --set sample.length=0 --run-dir " + words)
                .code,
            0);
  EXPECT_TRUE(fs::exists(words + "/sample.txt"));
  EXPECT_EQ(test::read_all(words + "/sample.txt"), "");
  auto r =
      run_command(kLm + " generate --run " + words + " --prompt 'the cat' --length 3 2>/dev/null");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("the cat ", 0), 0u) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), ' '), 4) << r.output;
  // A character model: --length N gives N characters, hot or not (no
  // special token drawn and printed as nothing).
  std::string chars = dir.file("chars");
  ASSERT_EQ(run_command(kLm + " train " + cfg + " --run-dir " + chars).code, 0);
  for (const char* t : {"0", "1", "3"}) {
    r = run_command(kLm + " generate --run " + chars + " --length 400 --temperature " + t +
                    " 2>/dev/null | tr -d '\\n' | wc -m");
    ASSERT_EQ(r.code, 0) << r.output;
    // (newlines are characters the model may draw; wc counts what is left)
    EXPECT_LE(std::stoi(r.output), 400) << t;
    EXPECT_GE(std::stoi(r.output), 300) << t;
  }
  r = run_command(kLm + " generate --run " + chars + " --length 400 --temperature 3 2>/dev/null");
  EXPECT_EQ(r.output.size() - 1, 400u) << "a character model's 400 tokens are 400 bytes here";
  // A diverged run stops with one line, exit 1, instead of finishing with
  // val_ppl inf. Which figure overflows first (the training loss, the
  // gradient norm or a validation figure) depends on the CPU's BLAS kernels.
  r = run_command(kLm + " train " + cfg +
                  " --set optim.lr=1e30 --set train.clip_norm=0 --run-dir " + dir.file("div"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(std::regex_search(
      r.output, std::regex("error: (training loss|gradient norm|validation [a-z]+) is (-?inf|nan) "
                           "at update [0-9]+( in epoch 1)? \\(the model diverged\\); stopped, ")))
      << r.output;
  EXPECT_FALSE(fs::exists(dir.file("div/summary.json")));
  // inspect --out never overwrites the run's files or the input text.
  for (const std::string& out :
       {chars + "/checkpoint_best.pt", chars + "/config.yaml", dir.file("corpus.txt")}) {
    auto before = test::read_all(out);
    r = run_command(kLm + " inspect --run " + chars + " --text " + dir.file("corpus.txt") +
                    " --out " + out);
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("error: --out '" + out + "' is"), std::string::npos) << r.output;
    EXPECT_EQ(test::read_all(out), before) << out;
  }
  r = run_command(kLm + " inspect --run " + chars + " --text " + dir.file("corpus.txt") +
                  " --out " + dir.file("page.html"));
  EXPECT_EQ(r.code, 0) << r.output;
  // eval says when the figure misleads: tokens outside the vocabulary, and
  // streams shorter than bptt.
  write_file(dir.file("short.txt"), "the cat sat on the mat, zebra!\n");
  r = run_command(kLm + " eval --run " + chars + " --text " + dir.file("short.txt"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("short.txt: 4 of 31 tokens are outside the vocabulary"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("shorter than data.bptt 32"), std::string::npos) << r.output;
  // A word corpus whose text holds the special tokens' names says so.
  write_file(dir.file("specials.txt"), test::tiny_corpus(2000) + "the <pad> cat <eos> sat <eos>\n");
  r = run_command(kLm + " train " + cfg +
                  " --set data.tokenizer.type=word --set data.train=" + dir.file("specials.txt") +
                  " --set data.valid_fraction=0.001 --run-dir " + dir.file("specials"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("specials.txt: the text holds the words 1 <pad>, 2 <eos>"),
            std::string::npos)
      << r.output;
  // A corpus too short to leave training text is named.
  write_file(dir.file("one.txt"), "x");
  expect_one_line_error(run_command(kLm + " train " + cfg + " --set data.train=" +
                                    dir.file("one.txt") + " --run-dir " + dir.file("one")),
                        1, dir.file("one.txt") + ": no training text is left (1 bytes");
  // Run directories named wrongly.
  write_file(dir.file("plain.txt"), "x");
  expect_one_line_error(run_command(kLm + " train " + cfg + " --run-dir " + dir.file("plain.txt")),
                        2, "is a file, not a directory");
  expect_one_line_error(
      run_command(kLm + " train --resume " + chars + " --run-dir " + dir.file("elsewhere")), 2,
      "--resume continues the run where it is");
}

}  // namespace
}  // namespace rnnlab
