// The trainer's parts on their own: best-value bookkeeping and the plateau
// patience, early-stop metric resolution, checked checkpoint loads, the
// SIGINT/SIGTERM guard, config checks across keys, and the trainer's
// gradient-norm and non-finite handling.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <time.h>
#include <torch/nn/modules/linear.h>
#include <unistd.h>

#include <csignal>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "apps/framework/app.h"
#include "apps/framework/checkpoint.h"
#include "apps/framework/experiment.h"
#include "apps/framework/trainer.h"
#include "core/error.h"
#include "tests/support/support.h"

namespace rnnlab {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

TEST(Printable, ControlAndNonUtf8BytesAreEscaped) {
  EXPECT_EQ(printable("caf\xc3\xa9 ok"), "caf\xc3\xa9 ok");
  EXPECT_EQ(printable("bad \xe9 byte"), "bad \\xe9 byte");
  EXPECT_EQ(printable(std::string("nul \0 tab\t esc\x1b[31m del\x7f", 24)),
            "nul \\x00 tab\\x09 esc\\x1b[31m del\\x7f");
  EXPECT_EQ(printable("two\nlines"), "two\\x0alines");
}

TEST(BestTracker, ImprovesStallsAndStopsAfterPatience) {
  BestTracker t({"loss", false}, /*patience=*/2, /*plateau_patience=*/1, 0.5, /*plateau=*/false);
  EXPECT_TRUE(t.update(10, 3.0).improved);
  EXPECT_TRUE(t.update(20, 2.0).improved);
  auto v = t.update(30, 2.5);
  EXPECT_FALSE(v.improved);
  EXPECT_FALSE(v.stop);
  EXPECT_EQ(v.text, "stalled 1 time");
  v = t.update(40, 2.0);  // equal is not better
  EXPECT_TRUE(v.stop);
  EXPECT_EQ(t.best_step(), 20);
  EXPECT_DOUBLE_EQ(t.best(), 2.0);
  EXPECT_DOUBLE_EQ(t.lr_scale(), 1.0);  // no plateau schedule

  BestTracker up({"accuracy", true}, 0, 1, 0.5, false);
  up.update(1, 0.5);
  EXPECT_TRUE(up.update(2, 0.6).improved);
  EXPECT_FALSE(up.update(3, 0.55).improved);
}

TEST(BestTracker, PlateauDecaysAfterItsPatienceAndStateRoundTrips) {
  BestTracker t({"loss", false}, 0, /*plateau_patience=*/3, 0.1, /*plateau=*/true);
  t.update(1, 1.0);
  t.update(2, 1.1);
  t.update(3, 1.2);
  EXPECT_DOUBLE_EQ(t.lr_scale(), 1.0);  // two stalls: not yet
  auto v = t.update(4, 1.3);
  EXPECT_NEAR(t.lr_scale(), 0.1, 1e-15);  // the third stall decays
  EXPECT_NE(v.text.find("learning rate x0.1"), std::string::npos) << v.text;
  t.update(5, 1.3);
  t.update(6, 1.3);
  EXPECT_NEAR(t.lr_scale(), 0.1, 1e-15);
  BestTracker copy({"loss", false}, 0, 3, 0.1, true);
  copy.set_state(t.state());
  EXPECT_EQ(copy.best_step(), 1);
  EXPECT_EQ(copy.bad_evals(), 5);
  copy.update(7, 1.3);  // the sixth stall: a second decay, in the copy too
  EXPECT_NEAR(copy.lr_scale(), 0.01, 1e-15);
}

TEST(EarlyStop, ResolvesNameAndDirectionOrNamesTheKey) {
  TrainSection train;
  std::vector<MetricInfo> declared = {{"loss", false}, {"accuracy", true}};
  train.early_stop_metric = "val_accuracy";
  EXPECT_TRUE(resolve_early_stop(train, declared).higher_is_better);
  train.early_stop_metric = "loss";
  EXPECT_FALSE(resolve_early_stop(train, declared).higher_is_better);
  train.early_stop_mode = "max";  // the config overrides the declaration
  EXPECT_TRUE(resolve_early_stop(train, declared).higher_is_better);
  train.early_stop_metric = "val_bleu";
  try {
    resolve_early_stop(train, declared);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "key 'train.early_stop_metric': 'val_bleu' is not a validation metric of this "
                 "app; available: val_loss, val_accuracy");
  }
}

TEST(Checkpoint, LoadChecksNamesShapesAndDtypes) {
  TempDir tmp;
  fs::path file = tmp.path / "c.pt";
  auto save = [&](torch::nn::Module& m) {
    torch::serialize::OutputArchive archive, model;
    m.save(model);
    archive.write("model", model);
    save_archive_atomic(archive, file);
  };
  torch::nn::Linear a(4, 3);
  save(*a);
  EXPECT_FALSE(fs::exists(tmp.path / "c.pt.tmp"));
  torch::nn::Linear same(4, 3);
  load_model_from(*same, file);
  EXPECT_TRUE(same->weight.equal(a->weight));

  auto error_of = [&](torch::nn::Module& m) -> std::string {
    try {
      load_model_from(m, file);
    } catch (const DataError& e) {
      return e.what();
    }
    return "";
  };
  torch::nn::Linear wider(4, 5);
  EXPECT_EQ(error_of(*wider), "checkpoint '" + file.string() +
                                  "' does not fit this model: 'weight' is [3, 4] in the file, "
                                  "[5, 4] in the model");
  EXPECT_EQ(wider->weight.size(0), 5);  // untouched, not resized
  torch::nn::Linear no_bias(torch::nn::LinearOptions(4, 3).bias(false));
  EXPECT_NE(error_of(*no_bias).find("the file has 'bias', which this model does not"),
            std::string::npos);
  torch::nn::Linear dbl(4, 3);
  dbl->to(torch::kDouble);
  EXPECT_NE(error_of(*dbl).find("'weight' is Float in the file, Double in the model"),
            std::string::npos);
  std::ofstream(file) << "not a checkpoint";
  EXPECT_NE(error_of(*same).find("is unreadable or truncated"), std::string::npos);
  EXPECT_NE(error_of(*same).find(file.string()), std::string::npos);
}

TEST(RunDirLock, ASecondHolderIsRefusedUntilTheFirstLetsGo) {
  test::TempDir dir;
  {
    RunDirLock first(dir.path);
    try {
      RunDirLock second(dir.path);
      FAIL() << "two locks on one run directory";
    } catch (const RuntimeError& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("is in use by another process (pid " + std::to_string(::getpid())),
                std::string::npos)
          << msg;
    }
  }
  RunDirLock again(dir.path);  // released with the first
}

TEST(StopSignals, CatchesSigtermAndRestoresTheHandlerOnScopeExit) {
  static volatile std::sig_atomic_t previous_ran = 0;
  auto previous = std::signal(SIGTERM, [](int) { previous_ran = 1; });
  {
    StopSignals guard;
    StopSignals::clear();
    std::raise(SIGTERM);
    EXPECT_EQ(StopSignals::requested(), SIGTERM);
  }
  std::raise(SIGTERM);  // the handler from before the guard is back
  EXPECT_EQ(previous_ran, 1);
  std::signal(SIGTERM, previous);
  StopSignals::clear();
}

// In a child process: SIGTERM twice at once is one request; a second one
// after StopSignals::kSameRequestNs kills (the default action).
TEST(StopSignals, TheSameSignalTwiceAtOnceIsOneRequestALaterOneKills) {
  auto child = [](bool later) {
    pid_t pid = ::fork();
    if (pid == 0) {
      StopSignals guard;
      StopSignals::clear();
      std::raise(SIGTERM);
      if (later) {
        timespec wait{1, 200000000};
        ::nanosleep(&wait, nullptr);
      }
      std::raise(SIGTERM);
      ::_exit(StopSignals::requested() == SIGTERM ? 0 : 3);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
  };
  int status = child(false);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  status = child(true);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
}

TEST(Sections, RecurrentConflictsAreConfigErrorsNamingTheKey) {
  ConfigSchema schema;
  RecurrentSection rnn;
  rnn.bind(schema, "model.rnn");
  auto error_of = [&](const std::string& set) -> std::string {
    ConfigSchema s;
    RecurrentSection r;
    r.bind(s, "model.rnn");
    std::istringstream sets(set);
    for (std::string kv; sets >> kv;) s.apply_override(kv);
    s.finalize();
    try {
      r.validate(s, "model.rnn");
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_of("model.rnn.type=lstm model.rnn.layers=2 model.rnn.dropout=0.2"), "");
  EXPECT_NE(error_of("model.rnn.type=gru model.rnn.proj_size=8")
                .find("key 'model.rnn.proj_size' (--set): only an lstm has a projection"),
            std::string::npos);
  EXPECT_NE(error_of("model.rnn.impl=builtin model.rnn.layer_norm=true")
                .find("key 'model.rnn.layer_norm' (--set)"),
            std::string::npos);
  EXPECT_NE(error_of("model.rnn.impl=builtin model.rnn.recurrent_dropout=0.1")
                .find("key 'model.rnn.recurrent_dropout'"),
            std::string::npos);
  EXPECT_NE(error_of("model.rnn.type=gru model.rnn.nonlinearity=relu")
                .find("key 'model.rnn.nonlinearity'"),
            std::string::npos);
  EXPECT_NE(error_of("model.rnn.dropout=0.3").find("needs model.rnn.layers >= 2"),
            std::string::npos);
}

// RecurrentSection::validate is RecurrentOptions::validate with the config's
// keys: each refused combination is a ConfigError (exit 2) naming the key at
// fault, where its value came from and the other keys in its reason.
TEST(Sections, RecurrentChecksAreTheOptionsChecksNamingKeys) {
  auto error_of = [](const std::string& set) -> std::string {
    ConfigSchema s;
    RecurrentSection r;
    r.bind(s, "model.enc");
    std::istringstream sets(set);
    for (std::string kv; sets >> kv;) s.apply_override(kv);
    s.finalize();
    try {
      r.validate(s, "model.enc");
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.exit_code(), 2);
      return e.what();
    }
    return "";
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"model.enc.type=rnn model.enc.proj_size=4",
       "key 'model.enc.proj_size' (--set): only an lstm has a projection; model.enc.type is rnn"},
      {"model.enc.hidden=8 model.enc.proj_size=8",
       "key 'model.enc.proj_size' (--set): must be smaller than model.enc.hidden (8)"},
      {"model.enc.nonlinearity=relu",
       "key 'model.enc.nonlinearity' (--set): only the vanilla rnn has a choice of "
       "non-linearity; model.enc.type is lstm"},
      {"model.enc.impl=builtin model.enc.layer_norm=true",
       "key 'model.enc.layer_norm' (--set): torch::nn has no layer-normalised cells; set "
       "model.enc.impl: custom"},
      {"model.enc.impl=builtin model.enc.recurrent_dropout=0.5",
       "key 'model.enc.recurrent_dropout' (--set): torch::nn has no recurrent dropout; set "
       "model.enc.impl: custom"},
      {"model.enc.dropout=0.5",
       "key 'model.enc.dropout' (--set): dropout between stacked layers needs model.enc.layers "
       ">= 2 (it would do nothing)"},
  };
  for (const auto& [set, message] : cases) EXPECT_EQ(error_of(set), message) << set;
  // what the options allow, the config allows
  EXPECT_EQ(error_of("model.enc.type=rnn model.enc.nonlinearity=relu model.enc.layers=2 "
                     "model.enc.dropout=0.5 model.enc.layer_norm=true "
                     "model.enc.recurrent_dropout=0.5 model.enc.bidirectional=true"),
            "");
  EXPECT_EQ(error_of("model.enc.impl=builtin model.enc.proj_size=100"), "");
  // the section's values become the options, names parsed into enums
  ConfigSchema s;
  RecurrentSection r;
  r.bind(s, "model.enc");
  for (const char* kv :
       {"model.enc.type=rnn", "model.enc.impl=builtin", "model.enc.hidden=9", "model.enc.layers=3",
        "model.enc.nonlinearity=relu", "model.enc.dropout=0.25", "model.enc.bidirectional=true"})
    s.apply_override(kv);
  s.finalize();
  const RecurrentOptions o = r.options(7);
  EXPECT_EQ(o.type(), CellType::kRNN);
  EXPECT_EQ(o.impl(), Implementation::kBuiltin);
  EXPECT_EQ(to_string(o.nonlinearity()), "relu");
  EXPECT_EQ(o.input_size(), 7);
  EXPECT_EQ(o.hidden_size(), 9);
  EXPECT_EQ(o.num_layers(), 3);
  EXPECT_DOUBLE_EQ(o.dropout(), 0.25);
  EXPECT_TRUE(o.bidirectional());
  // the defaults are the options' own where the config has none of its own
  RecurrentSection d;
  EXPECT_EQ(d.type, "lstm");
  EXPECT_EQ(d.impl, "custom");
  EXPECT_EQ(d.nonlinearity, "tanh");
  EXPECT_EQ(d.stack.hidden_size(), 256);
  EXPECT_EQ(d.stack.num_layers(), 1);
  EXPECT_EQ(d.options(5).proj_size(), 0);
}

TEST(Sections, NonFiniteNumbersAreConfigErrors) {
  ConfigSchema s;
  OptimSection optim;
  optim.bind(s);
  for (const char* v : {".inf", "-.inf", ".nan", ".NaN"}) {
    try {
      s.apply_override(std::string("optim.lr=") + v);
      ADD_FAILURE() << v << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("which is not finite"), std::string::npos) << e.what();
    }
  }
}

// ---- the trainer's gradient and loss checks ----

struct NanGradTask : Task {
  torch::nn::Linear net{2, 1};
  int64_t nan_grad_at = -1, calls = 0;
  torch::nn::Module& model() override { return *net; }
  int64_t batches_per_epoch() const override { return 4; }
  void start_epoch(int64_t) override {}
  StepOutput train_step(int64_t) override {
    torch::Tensor out = net(torch::ones({3, 2})).sum();
    // A finite loss whose gradient is NaN: sqrt at 0 has an infinite slope,
    // times 0 gives NaN in backward only.
    if (calls++ == nan_grad_at)
      out =
          out +
          0 * torch::sqrt(torch::zeros({1}, torch::requires_grad()) + 0 * net->weight.sum()).sum();
    return {out * 0.01, 3};
  }
  Metrics evaluate(const std::string& split) override {
    if (split != "valid") return {};
    return {{"loss", 1.0}};
  }
};

TEST(Trainer, WithoutClippingTheGradientNormIsStillCheckedAndLogged) {
  TempDir tmp;
  NanGradTask task;
  task.nan_grad_at = 2;
  TrainSection train;
  train.max_steps = 10;
  train.clip_norm = 0;
  train.log_every = 1;
  OptimSection optim;
  RunSection run;
  run.progress = "lines";
  RunDir dir = RunDir::create(tmp.path / "run");
  Trainer trainer(task, train, optim, run);
  try {
    trainer.fit(dir, false);
    FAIL() << "a NaN gradient went unnoticed";
  } catch (const RuntimeError& e) {
    EXPECT_STREQ(
        e.what(),
        "gradient norm is nan at update 3 (the model diverged); stopped, no checkpoint was "
        "written yet");
  }
  // The two good updates logged their norm.
  std::string metrics = test::read_all(dir.file("metrics.jsonl").string());
  EXPECT_NE(metrics.find("\"grad_norm\""), std::string::npos) << metrics;
}

TEST(Experiment, SubRunsAndResumptionRecords) {
  RunSection run;
  run.seed = 4;
  run.repeats = 3;
  auto subs = repeat_subruns(run);
  ASSERT_EQ(subs.size(), 3u);
  EXPECT_EQ(subs[2].name, "seed6");
  EXPECT_EQ(subs[2].sets, (std::vector<std::string>{"run.seed=6", "run.repeats=1"}));

  // config.yaml, then each recorded resumption's overrides, in order.
  TempDir tmp;
  test::write_file(tmp.file("config.yaml"), "run:\n  seed: 1\n");
  RunDir dir = RunDir::open(tmp.path);
  record_resumption(dir, {"run.seed=2"}, 10);
  record_resumption(dir, {"run.threads=3", "run.seed=5"}, 20);
  ConfigSchema schema;
  RunSection loaded;
  loaded.bind(schema);
  load_run_config(schema, dir, {"run.progress=lines"});
  EXPECT_EQ(loaded.seed, 5);
  EXPECT_EQ(loaded.threads, 3);
  EXPECT_EQ(loaded.progress, "lines");
  EXPECT_EQ(test::read_all(tmp.file("config.yaml")), "run:\n  seed: 1\n");
}

TEST(Experiment, SeedSubRunsGroupByWhatElseTheirNameSays) {
  using Groups = std::vector<std::pair<std::string, std::vector<std::string>>>;
  EXPECT_EQ(group_seed_subruns({"seed1", "seed2", "seed3"}),
            (Groups{{"", {"seed1", "seed2", "seed3"}}}));
  EXPECT_EQ(group_seed_subruns({"fold01-seed1", "fold01-seed2", "fold02-seed1", "fold10-seed12"}),
            (Groups{{"fold01", {"fold01-seed1", "fold01-seed2"}},
                    {"fold02", {"fold02-seed1"}},
                    {"fold10", {"fold10-seed12"}}}));
  for (const char* bad : {"fold01", "seed", "seedx", "fold01seed1", "-seed1", "seed1-fold01"}) {
    try {
      group_seed_subruns({"seed1", bad});
      ADD_FAILURE() << bad << " was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace rnnlab
