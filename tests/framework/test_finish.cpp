// The end of a run, tested on the real rnnlab-lm binary: a resumed run that
// is complete changes no file; one stopped in its final phase (kill -9 or
// SIGTERM during the final evaluation) finishes on --resume with the summary
// of a run never stopped, without another update; a temporary file left by a
// kill during the first checkpoint write does not block --resume.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>

#include "tests/support/support.h"

namespace rnnlab {
namespace {

namespace fs = std::filesystem;
using test::run_command;
using test::TempDir;
using test::write_file;

using test::kLm;

/// One epoch of a small LM, validated at the epoch's end, whose final test
/// evaluation (one stream over a long text) takes a few seconds: long enough
/// to be stopped in.
std::string finish_config(const TempDir& dir) {
  std::string train = write_file(dir.file("train.txt"), test::tiny_corpus(1200));
  std::string valid = write_file(dir.file("valid.txt"), test::tiny_corpus(100));
  std::string test = write_file(dir.file("test.txt"), test::tiny_corpus(5000));
  return write_file(dir.file("exp.yaml"), "data:\n  train: " + train + "\n  valid: " + valid +
                                              "\n  test: " + test +
                                              "\n  batch_size: 8\n  bptt: 32\n"
                                              "  eval_batch_size: 1\nmodel:\n  embedding: 16\n"
                                              "  dropout: 0.2\n  rnn:\n    hidden: 64\n"
                                              "train:\n  max_epochs: 1\n  eval_every: 0\n"
                                              "  log_every: 10\nsample:\n  length: 30\n"
                                              "run:\n  progress: lines\n  seed: 3\n");
}

nlohmann::json summary_without_time(const fs::path& run) {
  return test::without_time(nlohmann::json::parse(test::read_all((run / "summary.json").string())));
}

/// Starts a run in the background, sends `signal` once the final phase has
/// begun (the one epoch's checkpoint is written, the long test evaluation
/// runs), and returns "exit=N".
std::string stop_in_final_phase(const std::string& cfg, const std::string& run,
                                const std::string& signal) {
  auto r = run_command("(" + kLm + " train " + cfg + " --run-dir " + run +
                       " >/dev/null 2>&1 & pid=$!; while [ ! -f " + run +
                       "/checkpoint_last.pt ]; do sleep 0.02; done; sleep 0.5; kill -" + signal +
                       " $pid; wait $pid; echo exit=$?)");
  return r.output;
}

class Finish : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    cfg_ = finish_config(*dir_);
    auto r = run_command(kLm + " train " + cfg_ + " --run-dir " + dir_->file("straight"));
    ASSERT_EQ(r.code, 0) << r.output;
  }
  static void TearDownTestSuite() { delete dir_; }
  static fs::path straight() { return dir_->path / "straight"; }
  static TempDir* dir_;
  static std::string cfg_;
};
TempDir* Finish::dir_ = nullptr;
std::string Finish::cfg_;

TEST_F(Finish, ResumeOfACompleteRunChangesNoFile) {
  TempDir dir;
  fs::path run = dir.path / "run";
  fs::copy(straight(), run, fs::copy_options::recursive);
  test::expect_complete_run_unchanged_by_resume(kLm, run.string());
  // With an override, the trainer decides, and says why nothing is left.
  auto r = run_command(kLm + " train --resume " + run.string() + " --set run.progress=lines");
  EXPECT_NE(r.output.find("is complete (" +
                          std::to_string(summary_without_time(run)["steps"].get<int64_t>()) +
                          " updates, done); nothing to do"),
            std::string::npos)
      << r.output;
  // A higher limit trains on: a second epoch.
  r = run_command(kLm + " train --resume " + run.string() + " --set train.max_epochs=2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("(epoch 2, batch 0)"), std::string::npos) << r.output;
  EXPECT_EQ(summary_without_time(run)["epochs"].get<double>(), 2.0);
}

TEST_F(Finish, KillNineInTheFinalEvaluationThenResumeGivesTheUnstoppedSummary) {
  TempDir dir;
  std::string run = dir.file("killed");
  std::string out = stop_in_final_phase(cfg_, run, "9");
  ASSERT_NE(out.find("exit=137"), std::string::npos) << out;
  ASSERT_FALSE(fs::exists(run + "/summary.json")) << "the run ended before the kill";
  auto r = run_command(kLm + " train --resume " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("training is over (done); finishing the run"), std::string::npos)
      << r.output;
  EXPECT_EQ(summary_without_time(run), summary_without_time(straight()));
  EXPECT_EQ(test::metrics_without_time(run), test::metrics_without_time(straight()));
  EXPECT_EQ(test::read_all(run + "/sample.txt"),
            test::read_all((straight() / "sample.txt").string()));
  // And now it is complete.
  r = run_command(kLm + " train --resume " + run);
  EXPECT_NE(r.output.find("is complete"), std::string::npos) << r.output;
}

TEST_F(Finish, SigtermInTheFinalEvaluationExits143AndResumeFinishes) {
  TempDir dir;
  std::string run = dir.file("stopped");
  std::string out = stop_in_final_phase(cfg_, run, "TERM");
  ASSERT_NE(out.find("exit=143"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(run + "/summary.json"));
  std::string log = test::read_all(run + "/log.txt");
  EXPECT_NE(log.find("SIGTERM during the final evaluation"), std::string::npos) << log;
  auto r = run_command(kLm + " train --resume " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(summary_without_time(run), summary_without_time(straight()));
}

TEST_F(Finish, AKillDuringTheFirstCheckpointWriteDoesNotBlockResume) {
  // What kill -9 leaves while checkpoint_last.pt is first written: the best
  // checkpoint (written an instant before, from the same state), a partial
  // temporary file, no checkpoint_last.pt, no summary.
  TempDir dir;
  fs::path run = dir.path / "run";
  fs::copy(straight(), run, fs::copy_options::recursive);
  fs::remove(run / "summary.json");
  fs::remove(run / "sample.txt");
  std::string last = test::read_all((run / "checkpoint_last.pt").string());
  write_file((run / "checkpoint_last.pt.tmp").string(), last.substr(0, last.size() / 2));
  fs::remove(run / "checkpoint_last.pt");
  auto r = run_command(kLm + " train --resume " + run.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("checkpoint_last.pt is missing"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(run / "checkpoint_last.pt.tmp"));
  EXPECT_EQ(summary_without_time(run), summary_without_time(straight()));
}

TEST_F(Finish, ATimeLimitBelowTheRunsTrainingTimeFinishesItAndSaysWhy) {
  // train.max_minutes counts the whole run's training: a --resume that sets
  // less than was trained (meaning "this many more") finishes the run, and
  // the log says how much was trained against which limit.
  TempDir dir;
  fs::path run = dir.path / "run";
  fs::copy(straight(), run, fs::copy_options::recursive);
  fs::remove(run / "summary.json");
  auto r = run_command(kLm + " train --resume " + run.string() +
                       " --set train.max_epochs=3 --set train.max_minutes=0.001");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("training is over (time limit: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" min trained, train.max_minutes 0.001 counts the whole run's "
                          "training; give more to train on); finishing the run"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(fs::exists(run / "summary.json"));
}

TEST_F(Finish, AnUnfinishedRunIsSaidToBeSoWhenItsModelIsUsed) {
  TempDir dir;
  fs::path run = dir.path / "run";
  fs::copy(straight(), run, fs::copy_options::recursive);
  fs::remove(run / "summary.json");
  auto r = run_command(kLm + " generate --run " + run.string() + " --length 5");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("has not finished"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace rnnlab
