// Promises about processes, tested on the real rnnlab-lm binary: one seed
// gives one run; kill -9 then --resume ends where an unstopped run ends;
// SIGTERM saves; a failed resume changes nothing; a checkpoint never loads
// into the wrong model; config errors come before the run directory exists;
// repeated runs give a parent summary with mean and std and resume by sub-run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/framework/small_lm.h"
#include "tests/support/support.h"

namespace rnnlab {
namespace {

namespace fs = std::filesystem;
using test::expect_one_line_error;
using test::metrics_without_time;
using test::run_command;
using test::TempDir;
using test::write_file;

using test::kLm;

/// A small LM experiment that takes a few seconds, with dropout (so the RNG
/// state matters) and validation every 20 updates.
std::string process_config(const TempDir& dir, const std::string& extra = "") {
  return test::small_lm_config(dir, {3000, 96, 160, 20, 7, 30}, extra);
}

/// A finished 20-update run in DIR/run; returns its path.
std::string short_run(const TempDir& dir) {
  std::string run = dir.file("run");
  auto r = run_command(kLm + " train " + process_config(dir) +
                       " --set train.max_steps=20 --run-dir " + run);
  EXPECT_EQ(r.code, 0) << r.output;
  return run;
}

TEST(Process, SameSeedGivesTheSameRunInTwoProcesses) {
  TempDir dir;
  std::string cfg = process_config(dir);
  for (const char* run : {"a", "b"})
    ASSERT_EQ(run_command(kLm + " train " + cfg + " --run-dir " + dir.file(run)).code, 0);
  std::string a = metrics_without_time(dir.path / "a");
  EXPECT_GT(std::count(a.begin(), a.end(), '\n'), 25);
  EXPECT_EQ(a, metrics_without_time(dir.path / "b"));
  EXPECT_EQ(test::read_all(dir.file("a/sample.txt")), test::read_all(dir.file("b/sample.txt")));
  // Another seed is another run, from the first update on.
  ASSERT_EQ(
      run_command(kLm + " train " + cfg + " --set run.seed=6 --run-dir " + dir.file("c")).code, 0);
  std::string c = metrics_without_time(dir.path / "c");
  EXPECT_NE(a.substr(0, a.find('\n')), c.substr(0, c.find('\n')));
}

TEST(Process, KillNineThenResumeEndsLikeAnUnstoppedRun) {
  TempDir dir;
  std::string cfg = process_config(dir);
  ASSERT_EQ(run_command(kLm + " train " + cfg + " --run-dir " + dir.file("straight")).code, 0);
  // Start the same run, SIGKILL it once its first checkpoint exists, resume.
  std::string run = dir.file("killed");
  auto r = run_command("(" + kLm + " train " + cfg + " --run-dir " + run +
                       " >/dev/null 2>&1 & pid=$!; while [ ! -f " + run +
                       "/checkpoint_last.pt ]; do sleep 0.02; done; sleep 0.2; kill -9 $pid; "
                       "wait $pid; echo exit=$?)");
  ASSERT_NE(r.output.find("exit=137"), std::string::npos) << r.output;
  ASSERT_FALSE(fs::exists(run + "/summary.json")) << "the run ended before the kill";
  r = run_command(kLm + " train --resume " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("at update 0 "), std::string::npos) << r.output;
  EXPECT_EQ(metrics_without_time(run), metrics_without_time(dir.path / "straight"));
  nlohmann::json a = test::read_summary(run), b = test::read_summary(dir.path / "straight");
  EXPECT_EQ(a["val_loss"].get<double>(), b["val_loss"].get<double>());
  EXPECT_EQ(a["best_step"], b["best_step"]);
  EXPECT_EQ(test::read_all(run + "/sample.txt"), test::read_all(dir.file("straight/sample.txt")));
}

// Without --foreground, timeout signals the command and then its whole
// process group: the command gets SIGTERM twice at once, which is one
// request (only a later second signal kills at once).
TEST(Process, SigtermSavesACheckpointAndExits143) {
  for (const char* foreground : {"--foreground ", ""}) {
    TempDir dir;
    std::string run = dir.file("run");
    auto r = run_command("timeout " + std::string(foreground) + "--preserve-status -s TERM 3 " +
                         kLm + " train " + process_config(dir) +
                         " --set train.max_steps=1000000 --set train.eval_every=100000 --run-dir " +
                         run);
    EXPECT_EQ(r.code, 143) << foreground << r.output;
    EXPECT_NE(r.output.find("error: stopped by SIGTERM at update"), std::string::npos) << r.output;
    EXPECT_TRUE(fs::exists(run + "/checkpoint_last.pt")) << foreground;
  }
}

TEST(Process, AFailedResumeChangesNothingAndAGoodOneIsRecorded) {
  TempDir dir;
  std::string run = short_run(dir);
  std::string before = test::read_all(run + "/config.yaml");
  // A hidden size cannot change in a run that exists: one line naming the
  // key; config.yaml untouched, nothing recorded.
  auto r = run_command(kLm + " train --resume " + run + " --set model.rnn.hidden=64");
  expect_one_line_error(r, 2,
                        "key 'model.rnn.hidden' (--set): cannot change when a run is resumed");
  EXPECT_EQ(test::read_all(run + "/config.yaml"), before);
  EXPECT_FALSE(fs::exists(run + "/resumed.yaml"));
  // The run still works, and a resume that fits is recorded beside config.yaml.
  r = run_command(kLm + " train --resume " + run + " --set train.max_steps=40");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(test::read_all(run + "/config.yaml"), before);
  std::string resumed = test::read_all(run + "/resumed.yaml");
  EXPECT_NE(resumed.find("train.max_steps=40"), std::string::npos) << resumed;
  EXPECT_EQ(test::read_summary(run)["steps"].get<int64_t>(), 40);
  r = run_command(kLm + " generate --run " + run + " --length 10");
  EXPECT_EQ(r.code, 0) << r.output;
}

// The learning rate and its schedule may change on --resume (a hand-made step
// decay): the updates after the resumption use the new rate, those before
// keep theirs, and resumed.yaml says what changed and where.
TEST(Process, TheLearningRateMayChangeOnResume) {
  TempDir dir;
  std::string run = dir.file("run");
  std::string cfg = process_config(dir, "optim:\n  lr: 0.002\n  schedule: constant\n");
  ASSERT_EQ(run_command(kLm + " train " + cfg + " --set train.max_steps=21 --run-dir " + run).code,
            0);
  auto r = run_command(kLm + " train --resume " + run +
                       " --set train.max_steps=42 --set optim.lr=0.0005");
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in(run + "/metrics.jsonl");
  int before = 0, after = 0;
  for (std::string line; std::getline(in, line);) {
    auto rec = nlohmann::json::parse(line);
    if (rec["type"] != "train") continue;
    bool resumed = rec["step"].get<int64_t>() > 21;
    EXPECT_DOUBLE_EQ(rec["lr"].get<double>(), resumed ? 0.0005 : 0.002) << line;
    ++(resumed ? after : before);
  }
  EXPECT_GT(before, 0);
  EXPECT_GT(after, 0);
  std::string resumed = test::read_all(run + "/resumed.yaml");
  EXPECT_NE(resumed.find("optim.lr=0.0005"), std::string::npos) << resumed;
  EXPECT_NE(resumed.find("21"), std::string::npos) << resumed;
}

TEST(Process, ACheckpointOfAnotherModelNeverLoads) {
  TempDir dir;
  std::string run = short_run(dir);
  // config.yaml edited from lstm to gru by hand.
  std::string cfg = test::read_all(run + "/config.yaml");
  size_t at = cfg.find("type: lstm");
  ASSERT_NE(at, std::string::npos);
  write_file(run + "/config.yaml", cfg.replace(at, 10, "type: gru"));
  for (const std::string& cmd :
       {" generate --run " + run, " eval --run " + run + " --text " + dir.file("corpus.txt")})
    expect_one_line_error(run_command(kLm + cmd), 1, "does not fit this model: '");
}

TEST(Process, ConfigErrorsComeBeforeTheRunDirectory) {
  TempDir dir;
  std::string cfg = process_config(dir);
  struct Case {
    std::string set, text;
  };
  for (const Case& c : std::vector<Case>{
           {"model.rnn.bidirectional=true", "key 'model.rnn.bidirectional' (--set)"},
           {"train.early_stop_metric=val_accuracy", "available: val_loss, val_ppl, val_bpc"},
           {"sample.prompt=XYZ", "key 'sample.prompt' (--set): prompt:1: character 'X'"},
           {"optim.lr=.inf", "key 'optim.lr' (--set): expected a number, got .inf"},
           {"model.rnn.type=gru --set model.rnn.proj_size=8", "key 'model.rnn.proj_size'"},
           {"model.rnn.impl=builtin --set model.rnn.layer_norm=true", "key 'model.rnn.layer_norm'"},
           {"train.max_steps=0", "no stop criterion"},
           {"data.tokenizer.type=sentencepiece --set data.tokenizer.spm_vocab_size=100000",
            "key 'data.tokenizer.spm_vocab_size': sentencepiece: Vocabulary size too high"},
       }) {
    auto r =
        run_command(kLm + " train " + cfg + " --set " + c.set + " --run-dir " + dir.file("run"));
    expect_one_line_error(r, 2, c.text);
    EXPECT_FALSE(fs::exists(dir.file("run"))) << c.set;
  }
  // A relative data path names run.data_root and where it was resolved.
  auto r = run_command(kLm + " train " + cfg + " --set data.train=nope.txt --set run.data_root=" +
                       dir.file("data") + " --run-dir " + dir.file("run"));
  expect_one_line_error(r, 1, "'nope.txt' (data.train) does not exist under run.data_root");
  EXPECT_FALSE(fs::exists(dir.file("run")));
}

TEST(Process, RepeatedRunsGiveMeanAndStdAndResumeBySubRun) {
  TempDir dir;
  std::string cfg = process_config(dir);
  std::string run = dir.file("rep");
  auto r = run_command(kLm + " train " + cfg +
                       " --set run.repeats=3 --set train.max_steps=30 --run-dir " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  nlohmann::json parent = test::read_summary(run);
  EXPECT_EQ(parent["runs"], nlohmann::json({"seed5", "seed6", "seed7"}));
  EXPECT_EQ(parent["runs_finished"], 3);
  std::vector<double> losses;
  for (const char* sub : {"seed5", "seed6", "seed7"})
    losses.push_back(test::read_summary(fs::path(run) / sub)["val_loss"].get<double>());
  double mean = (losses[0] + losses[1] + losses[2]) / 3;
  EXPECT_NEAR(parent["val_loss_mean"].get<double>(), mean, 1e-12);
  EXPECT_GT(parent["val_loss_std"].get<double>(), 0);
  EXPECT_EQ(parent["val_loss_min"].get<double>(), *std::min_element(losses.begin(), losses.end()));
  // The sub-run seed6 is the same run as a single run with seed 6.
  ASSERT_EQ(run_command(kLm + " train " + cfg + " --set run.seed=6 --set train.max_steps=30 " +
                        "--run-dir " + dir.file("single6"))
                .code,
            0);
  EXPECT_EQ(metrics_without_time(fs::path(run) / "seed6"),
            metrics_without_time(dir.path / "single6"));
  // Resume: seed5 is finished and skipped, seed6 resumes from its checkpoint,
  // seed7 (never checkpointed) starts again.
  fs::remove(run + "/seed6/summary.json");
  fs::remove_all(run + "/seed7");
  fs::remove(run + "/summary.json");
  r = run_command(kLm + " train --resume " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("sub-run seed5 1/3: finished before, skipped"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  nlohmann::json again = test::read_summary(run);
  EXPECT_EQ(again["runs_finished"], 3);
  EXPECT_DOUBLE_EQ(again["val_loss_mean"].get<double>(), parent["val_loss_mean"].get<double>());
  // Inference on the parent uses the sub-run with the best val_loss.
  r = run_command(kLm + " generate --run " + run + " --length 5");
  EXPECT_EQ(r.code, 0) << r.output;
  size_t best = std::min_element(losses.begin(), losses.end()) - losses.begin();
  EXPECT_NE(r.output.find("using sub-run seed" + std::to_string(5 + best)), std::string::npos)
      << r.output;
}

// ---- data-parallel (c10d, Gloo over loopback) ----

TEST(DataParallel, TwoProcessesTrainLikeOneWithTheSameGlobalBatch) {
  TempDir dir;
  // Without dropout: each rank draws its own masks for its streams.
  std::string cmd = kLm + " train " + process_config(dir) +
                    " --set model.dropout=0 --set train.log_every=1 --set run.threads=1";
  ASSERT_EQ(run_command(cmd + " --run-dir " + dir.file("one")).code, 0);
  auto r = run_command(cmd + " --nproc 2 --run-dir " + dir.file("two"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("(2 processes, --nproc launcher, backend gloo)"), std::string::npos)
      << r.output;
  test::expect_same_training(dir.path / "one", dir.path / "two", 160, 1e-5);
  // One writer: the run directory holds one run's files, nothing per rank.
  for (const auto& e : fs::directory_iterator(dir.path / "two"))
    EXPECT_EQ(e.path().filename().string().find("rank"), std::string::npos) << e.path();
  auto lines = [&](const char* run) {
    std::string log = test::read_all(dir.file(std::string(run) + "/log.txt"));
    return std::count(log.begin(), log.end(), '\n');
  };
  EXPECT_EQ(lines("two"), lines("one"));  // one writer
}

TEST(DataParallel, SigtermToBothRanksThenResumeEndsLikeAnUnstoppedRun) {
  TempDir dir;
  // With dropout: each rank's own random stream is saved and restored.
  std::string cmd = kLm + " train " + process_config(dir) +
                    " --set train.log_every=1 --set run.threads=1 --nproc 2";
  ASSERT_EQ(run_command(cmd + " --run-dir " + dir.file("straight")).code, 0);
  std::string run = dir.file("stopped");
  // SIGTERM to the launcher, which passes it to both ranks (as a scheduler
  // signals every task): they stop at the same update.
  auto r = run_command("(" + cmd + " --run-dir " + run +
                       " & pid=$!; while ! grep -q '\"step\":50,' " + run +
                       "/metrics.jsonl 2>/dev/null; do sleep 0.05; done; kill -TERM $pid; "
                       "wait $pid; echo exit=$?)");
  ASSERT_NE(r.output.find("exit=143"), std::string::npos) << r.output;
  // "error: stopped by SIGTERM at update N" or, on a loaded machine where the
  // signal lands in the validation at update 60, "... during validation at ..."
  size_t said = 0;
  for (size_t p = 0; (p = r.output.find("error: stopped by SIGTERM", p)) != std::string::npos; ++p)
    ++said;
  EXPECT_EQ(said, 1u) << r.output;  // rank 0 says it; rank 1 is silent
  ASSERT_FALSE(fs::exists(run + "/summary.json"));
  r = run_command(kLm + " train --resume " + run + " --nproc 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(metrics_without_time(dir.path / "stopped"),
            metrics_without_time(dir.path / "straight"));
}

TEST(DataParallel, ResumedOnAnotherNumberOfProcessesContinuesFromTheCheckpoint) {
  TempDir dir;
  // Without dropout, so that 2 ranks train as 1 process does.
  std::string cmd = kLm + " train " + process_config(dir) +
                    " --set model.dropout=0 --set train.log_every=1 --set run.threads=1";
  ASSERT_EQ(run_command(cmd + " --run-dir " + dir.file("one")).code, 0);
  // 2 processes, stopped by SIGTERM, resumed in 1 process; and the other way.
  int k = 0;
  for (auto [first, then] :
       {std::pair<std::string, std::string>{" --nproc 2", ""}, {"", " --nproc 2"}}) {
    std::string run = dir.file("stopped" + std::to_string(k++));
    auto r = run_command("(" + cmd + first + " --run-dir " + run +
                         " & pid=$!; for i in $(seq 1200); do grep -q '\"step\":50,' " + run +
                         "/metrics.jsonl 2>/dev/null && break; sleep 0.05; done; kill -TERM $pid; "
                         "wait $pid; echo exit=$?)");
    ASSERT_NE(r.output.find("exit=143"), std::string::npos) << r.output;
    r = run_command(kLm + " train --resume " + run + then);
    ASSERT_EQ(r.code, 0) << r.output;
    test::expect_same_training(dir.path / "one", run, 160, 1e-5);
  }
}

TEST(DataParallel, ARankKilledMakesTheOtherExitWithOneLine) {
  TempDir dir;
  std::string run = dir.file("run");
  std::string cmd = kLm + " train " + process_config(dir) +
                    " --set train.max_steps=100000 --set run.dist_timeout=20 --nproc 2 --run-dir " +
                    run;
  // kill -9 of rank 1 once training runs; the launcher ends when rank 0 does.
  auto r = run_command("(" + cmd + " & pid=$!; while ! grep -q '\"step\":20,' " + run +
                       "/metrics.jsonl 2>/dev/null; do sleep 0.05; done; "
                       "kill -9 $(pgrep -P $pid | sed -n 2p); s=$(date +%s); wait $pid; "
                       "echo exit=$? after=$(( $(date +%s) - s )))");
  EXPECT_NE(r.output.find("exit=137"), std::string::npos) << r.output;  // rank 1's end
  EXPECT_NE(r.output.find("error: rank 0: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(rank 1 stopped: no sign of life)"), std::string::npos) << r.output;
  size_t after = r.output.find("after=");
  ASSERT_NE(after, std::string::npos);
  EXPECT_LE(std::stoi(r.output.substr(after + 6)), 20) << r.output;  // within run.dist_timeout
}

TEST(DataParallel, TwoTorchrunNodesOnLoopbackTrainTogether) {
  if (!fs::exists("/usr/bin/torchrun"))
    GTEST_SKIP() << "torchrun is not installed (scripts/setup.sh --peers installs python3-torch)";
  TempDir dir;
  std::string args = " --no_python " + kLm + " train " + process_config(dir) +
                     " --set model.dropout=0 --set train.log_every=1 --set run.threads=1";
  ASSERT_EQ(run_command(kLm + " train " + process_config(dir) +
                        " --set model.dropout=0 --set train.log_every=1 --set run.threads=1"
                        " --run-dir " +
                        dir.file("one"))
                .code,
            0);
  // Debian's torchrun 1.13 under Python 3.11 needs --redirects/--tee other than 0.
  std::string port = std::to_string(26000 + (::getpid() % 2000));
  std::string torchrun =
      "timeout 120 torchrun --nnodes=2 --nproc_per_node=1 "
      "--master_addr=127.0.0.1 --master_port=" +
      port + " --redirects 1 --tee 1 --log_dir " + dir.file("logs");
  std::string run = " --run-dir " + dir.file("two");
  auto r = run_command("(" + torchrun + " --node_rank=0" + args + run + " > " + dir.file("node0") +
                       " 2>&1 & a=$!; " + torchrun + " --node_rank=1" + args + run + " > " +
                       dir.file("node1") + " 2>&1; b=$?; wait $a; echo node0=$? node1=$b)");
  ASSERT_NE(r.output.find("node0=0 node1=0"), std::string::npos)
      << r.output << test::read_all(dir.file("node0")) << test::read_all(dir.file("node1"));
  test::expect_same_training(dir.path / "one", dir.path / "two", 0, 1e-5);
}

TEST(DataParallel, SubRunsSideBySideGiveTheParentSummaryOfASequentialRun) {
  TempDir dir;
  std::string cmd = kLm + " train " + process_config(dir) +
                    " --set run.repeats=3 --set train.max_steps=20 --set run.threads=1";
  ASSERT_EQ(run_command(cmd + " --run-dir " + dir.file("seq")).code, 0);
  // Without the key: refused, before anything is written.
  auto r = run_command(cmd + " --nproc 2 --run-dir " + dir.file("refused"));
  expect_one_line_error(r, 2, "key 'run.subruns_parallel'");
  EXPECT_FALSE(fs::exists(dir.file("refused")));
  // seed5 and seed7 on rank 0, seed6 on rank 1.
  std::string par = dir.file("par");
  r = run_command(cmd + " --set run.subruns_parallel=true --nproc 2 --run-dir " + par);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("3 sub-runs: seed5, seed6, seed7; side by side on 2 processes"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("val_loss over 3 runs"), std::string::npos) << r.output;
  EXPECT_NE(test::read_all(par + "/seed6/log.txt").find("sub-run on rank 1 of 2"),
            std::string::npos);
  for (const char* sub : {"seed5", "seed6", "seed7"})
    EXPECT_EQ(metrics_without_time(fs::path(par) / sub),
              metrics_without_time(dir.path / "seq" / sub))
        << sub;
  EXPECT_EQ(test::without_time(test::read_summary(par)),
            test::without_time(test::read_summary(dir.file("seq"))));
  // Resumed on 3 processes (one sub-run each): seed6 trains again from its
  // checkpoint on rank 1, the others are skipped; the same parent summary.
  fs::remove(par + "/seed6/summary.json");
  fs::remove(par + "/summary.json");
  r = run_command(kLm + " train --resume " + par + " --nproc 3");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(test::without_time(test::read_summary(par)),
            test::without_time(test::read_summary(dir.file("seq"))));
}

TEST(DataParallel, ARankKilledDuringSubRunsSideBySideIsNamedAndResumeFinishes) {
  TempDir dir;
  std::string run = dir.file("run");
  std::string cmd = kLm + " train " + process_config(dir) +
                    " --set run.repeats=2 --set run.subruns_parallel=true --set "
                    "train.max_steps=40 --set run.dist_timeout=3 --set run.threads=1";
  // kill -9 of rank 1 (seed6) once its sub-run trains; rank 0 finishes seed5,
  // then names rank 1 when its heartbeat has been silent for 3 s.
  auto r =
      run_command("(" + cmd + " --nproc 2 --run-dir " + run + " & pid=$!; while [ ! -f " + run +
                  "/seed6/metrics.jsonl ]; do sleep 0.05; done; for p in $(pgrep -P $pid); do "
                  "tr '\\0' '\\n' < /proc/$p/environ | grep -q '^RANK=1$' && kill -9 $p; done; "
                  "wait $pid; echo exit=$?)");
  EXPECT_NE(r.output.find("exit=137"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("error: rank 1: no sign of life for 3 s (run.dist_timeout): killed or "
                          "hung; its sub-runs continue with: train --resume " +
                          run),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(fs::exists(run + "/seed5/summary.json"));
  EXPECT_EQ(test::read_summary(run)["runs_finished"], 1);
  r = run_command(kLm + " train --resume " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(test::read_summary(run)["runs_finished"], 2);
}

TEST(DataParallel, BadLaunchVariablesAreOneLineErrors) {
  TempDir dir;
  std::string cmd = kLm + " train " + process_config(dir) + " --run-dir " + dir.file("run");
  expect_one_line_error(run_command("RANK=0 " + cmd), 2,
                        "launch variable RANK is set but WORLD_SIZE is not");
  expect_one_line_error(
      run_command("RANK=2 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29400 " + cmd), 2,
      "launch variable RANK=2 is outside 0..1 (WORLD_SIZE=2)");
  expect_one_line_error(
      run_command("RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29400 " + cmd +
                  " --nproc 2"),
      2, "--nproc starts its own processes: do not combine it with torchrun or RANK/WORLD_SIZE");
  expect_one_line_error(run_command(cmd + " --nproc 3"), 2,
                        "key 'data.batch_size': 8 parallel streams cannot be shared by 3 "
                        "processes; use a multiple of 3");
  expect_one_line_error(run_command(cmd + " --nproc 2 --set run.backend=nccl"), 2,
                        "key 'run.backend': nccl is not in this libtorch build");
  EXPECT_FALSE(fs::exists(dir.file("run")));
}

}  // namespace
}  // namespace rnnlab
