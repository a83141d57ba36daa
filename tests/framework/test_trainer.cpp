// The shared trainer on a minimal task: schedules, checkpoints, resume
// equality, stopping rules, non-finite losses; run directories.
#include <gtest/gtest.h>

#include <cmath>

#include "apps/lm/task.h"
#include "core/error.h"
#include "tests/support/support.h"

namespace rnnlab {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

// ---- a minimal task: linear regression, optionally misbehaving ----

struct RegressionTask : Task {
  torch::nn::Linear net{4, 1};
  torch::Tensor x = torch::randn({64, 4});
  torch::Tensor y = x.matmul(torch::tensor({1.0f, -2.0f, 0.5f, 3.0f})).unsqueeze(1);
  int64_t nan_at_call = -1;  // return NaN on this train_step call
  bool worsen = false;       // validation metric gets worse every time
  int64_t calls = 0, evals = 0;
  torch::nn::Module& model() override { return *net; }
  int64_t batches_per_epoch() const override { return 4; }
  void start_epoch(int64_t) override {}
  StepOutput train_step(int64_t i) override {
    auto xb = x.narrow(0, i * 16, 16), yb = y.narrow(0, i * 16, 16);
    torch::Tensor loss = torch::mse_loss(net(xb), yb);
    if (calls++ == nan_at_call) loss = loss * std::nan("");
    return {loss, 16};
  }
  Metrics evaluate(const std::string& split) override {
    if (split != "valid") return {};
    torch::NoGradGuard g;
    ++evals;
    return {{"loss", worsen ? double(evals) : torch::mse_loss(net(x), y).item<double>()}};
  }
};

struct Sections {
  TrainSection train;
  OptimSection optim;
  RunSection run;
  Sections() { run.progress = "lines"; }
};

TEST(Trainer, LearningRateSchedules) {
  OptimSection o;
  o.lr = 1.0;
  o.warmup_steps = 10;
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(o, 0, 110, 1), 0.1);
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(o, 9, 110, 1), 1.0);
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(o, 50, 110, 1), 1.0);  // constant
  o.schedule = "cosine";
  o.min_lr = 0.1;
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(o, 10, 110, 1), 1.0);
  EXPECT_NEAR(Trainer::scheduled_lr(o, 60, 110, 1), 0.55, 1e-12);
  EXPECT_NEAR(Trainer::scheduled_lr(o, 110, 110, 1), 0.1, 1e-12);
  o.schedule = "linear";
  EXPECT_NEAR(Trainer::scheduled_lr(o, 60, 110, 1), 0.55, 1e-12);
  o.schedule = "step";
  o.decay_steps = 20;
  o.decay_factor = 0.5;
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(o, 29, 110, 1), 1.0);
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(o, 30, 110, 1), 0.5);
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(o, 70, 110, 1), 0.125);
  o.schedule = "plateau";
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(o, 70, 110, 0.25), 0.25);
}

TEST(Trainer, RegressionLearnsAndWritesTheRunDirectory) {
  TempDir tmp;
  torch::manual_seed(0);
  RegressionTask task;
  Sections s;
  s.train.max_epochs = 30;
  s.train.log_every = 10;
  s.optim.lr = 0.05;
  RunDir dir = RunDir::create(tmp.path / "run");
  Trainer trainer(task, s.train, s.optim, s.run);
  double before = task.evaluate("valid").at("loss");
  nlohmann::json summary = trainer.fit(dir, false);
  EXPECT_LT(summary["val_loss"].get<double>(), 0.01 * before);
  EXPECT_EQ(summary["steps"].get<int64_t>(), 120);
  EXPECT_EQ(summary["parameters"].get<int64_t>(), 5);
  for (const char* f :
       {"metrics.jsonl", "summary.json", "checkpoint_last.pt", "checkpoint_best.pt"})
    EXPECT_TRUE(fs::exists(dir.file(f))) << f;
  for (const auto& entry : fs::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
  // 30 validations (one per epoch) and 12 training lines.
  std::string metrics = test::read_all(dir.file("metrics.jsonl").string());
  size_t valid = 0, train = 0;
  for (size_t p = 0; (p = metrics.find("\"type\":\"valid\"", p)) != std::string::npos; ++p) ++valid;
  for (size_t p = 0; (p = metrics.find("\"type\":\"train\"", p)) != std::string::npos; ++p) ++train;
  EXPECT_EQ(valid, 30u);
  EXPECT_EQ(train, 12u);
}

TEST(Trainer, EarlyStoppingAfterPatience) {
  TempDir tmp;
  RegressionTask task;
  task.worsen = true;
  Sections s;
  s.train.max_epochs = 100;
  s.train.patience = 3;
  RunDir dir = RunDir::create(tmp.path / "run");
  nlohmann::json summary = Trainer(task, s.train, s.optim, s.run).fit(dir, false);
  EXPECT_EQ(summary["steps"].get<int64_t>(), 16);  // best at epoch 1, then 3 stalls
  EXPECT_EQ(summary["best_step"].get<int64_t>(), 4);
  EXPECT_NE(summary["stop_reason"].get<std::string>().find("early stop"), std::string::npos);
}

TEST(Trainer, NonFiniteLossStopsWithAClearErrorAndKeepsTheCheckpoint) {
  TempDir tmp;
  RegressionTask task;
  task.nan_at_call = 6;
  Sections s;
  s.train.max_steps = 100;
  s.train.eval_every = 2;
  RunDir dir = RunDir::create(tmp.path / "run");
  Trainer trainer(task, s.train, s.optim, s.run);
  try {
    trainer.fit(dir, false);
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("training loss is nan at update 7"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(fs::exists(dir.file("checkpoint_last.pt")));
}

// A task's parameter groups train at their own multiple of the scheduled rate.
TEST(Trainer, ParameterGroupsScaleTheLearningRate) {
  struct Grouped : RegressionTask {
    std::vector<ParamGroup> param_groups() override {
      return {{"bias", {net->bias}, 1.0}, {"weight", {net->weight}, 0.0}};
    }
  };
  TempDir tmp;
  torch::manual_seed(0);
  Grouped task;
  torch::Tensor w0 = task.net->weight.detach().clone(), b0 = task.net->bias.detach().clone();
  Sections s;
  s.train.max_epochs = 2;
  s.optim.lr = 0.05;
  RunDir dir = RunDir::create(tmp.path / "run");
  Trainer(task, s.train, s.optim, s.run).fit(dir, false);
  EXPECT_TRUE(torch::equal(task.net->weight, w0));  // rate 0.05 x 0
  EXPECT_FALSE(torch::equal(task.net->bias, b0));   // rate 0.05 x 1
}

TEST(Trainer, NeedsAStoppingRule) {
  TempDir tmp;
  RegressionTask task;
  Sections s;
  RunDir dir = RunDir::create(tmp.path / "run");
  EXPECT_THROW(Trainer(task, s.train, s.optim, s.run), ConfigError);
}

TEST(RunDirectory, AtomicWritesAndNoOverwrite) {
  TempDir tmp;
  fs::path f = tmp.path / "x.txt";
  write_file_atomic(f, "first");
  write_file_atomic(f, "second");
  EXPECT_EQ(test::read_all(f.string()), "second");
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path), fs::directory_iterator()), 1);
  EXPECT_THROW(RunDir::create(tmp.path), UsageError);  // not empty
  EXPECT_THROW(RunDir::open(tmp.path / "missing"), UsageError);
  EXPECT_THROW(RunDir::open(tmp.path), UsageError);  // no config.yaml
}

}  // namespace
}  // namespace rnnlab
