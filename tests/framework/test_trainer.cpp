// The shared trainer on a minimal task: schedules, checkpoints, resume
// equality, stopping rules, non-finite losses; run directories.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <unistd.h>

#include <sstream>

#include "apps/framework/distributed.h"
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
  int64_t rank = 0, world = 1;  // data-parallel: this process's share of each batch
  torch::nn::Module& model() override { return *net; }
  int64_t batches_per_epoch() const override { return 4; }
  void start_epoch(int64_t) override {}
  void shard(Collective& c) override { rank = c.rank(), world = c.size(); }
  StepOutput train_step(int64_t i) override {
    // Rank r of w takes rows [r 16/w, (r+1) 16/w) of the batch's 16.
    const int64_t n = 16 / world;
    auto xb = x.narrow(0, i * 16 + rank * n, n), yb = y.narrow(0, i * 16 + rank * n, n);
    torch::Tensor loss = torch::mse_loss(net(xb), yb);
    if (calls++ == nan_at_call) loss = loss * std::nan("");
    return {loss, n};
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
  o.decay_start = 25;  // first decay at 25 (after warm-up), then every 20
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(o, 34, 110, 1), 1.0);
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(o, 35, 110, 1), 0.5);
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(o, 54, 110, 1), 0.5);
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(o, 55, 110, 1), 0.25);
  // Zaremba et al.'s small model: lr 1, halved every epoch after the 4th
  // (epochs counted from 0: epoch 4 trains at 0.5, epoch 12, the 13th, at 2^-9).
  OptimSection z;
  z.lr = 1.0, z.schedule = "step", z.decay_factor = 0.5, z.decay_epochs = 1, z.decay_start = 4;
  const int64_t spe = 2323;
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(z, 4 * spe - 1, 13 * spe, 1, spe), 1.0);
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(z, 4 * spe, 13 * spe, 1, spe), 0.5);
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(z, 5 * spe + 7, 13 * spe, 1, spe), 0.25);
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(z, 13 * spe - 1, 13 * spe, 1, spe), std::pow(0.5, 9));
  z.decay_epochs = 2;  // every 2 epochs from the 4th
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(z, 5 * spe, 13 * spe, 1, spe), 0.5);
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(z, 6 * spe, 13 * spe, 1, spe), 0.25);
  o.schedule = "plateau";
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(o, 70, 110, 0.25), 0.25);
  // ULMFiT's slanted triangular rates: T = 100 updates, cut at 10, ratio 32.
  OptimSection u;
  u.lr = 0.01, u.schedule = "slanted_triangular";
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(u, 0, 100, 1), 0.01 / 32);
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(u, 5, 100, 1), 0.01 * (1 + 0.5 * 31) / 32);
  EXPECT_DOUBLE_EQ(Trainer::scheduled_lr(u, 10, 100, 1), 0.01);
  EXPECT_NEAR(Trainer::scheduled_lr(u, 55, 100, 1), 0.01 * (1 + 0.5 * 31) / 32, 1e-15);
  EXPECT_NEAR(Trainer::scheduled_lr(u, 100, 100, 1), 0.01 / 32, 1e-15);
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

// NT-ASGD (Merity et al. 2017) with non-monotone interval 1: validation 4
// (4.6) is worse than the best of those before validation 3 (4.0), so from
// update 17 the engine averages the iterates; validation 5 (update 20) sees
// the mean of iterates 17..20, validations before the switch the weights
// themselves, and training goes on from the raw weights.
TEST(Trainer, NtAsgdValidatesTheAverageOfTheIteratesAfterTheSwitch) {
  struct Scripted : RegressionTask {
    std::vector<double> script{5.0, 4.0, 4.5, 4.6, 4.7, 4.8};
    std::vector<torch::Tensor> at_step, at_eval;  // net's weight at each train_step / validation
    StepOutput train_step(int64_t i) override {
      at_step.push_back(net->weight.detach().clone());
      return RegressionTask::train_step(i);
    }
    Metrics evaluate(const std::string& split) override {
      if (split != "valid") return {};
      at_eval.push_back(net->weight.detach().clone());
      return {{"loss", script.at(std::min<size_t>(evals++, script.size() - 1))}};
    }
  };
  TempDir tmp;
  torch::manual_seed(0);
  Scripted task;
  Sections s;
  s.train.max_steps = 24;
  s.train.eval_every = 4;
  s.optim.name = "sgd";
  s.optim.lr = 0.02;
  s.optim.asgd_nonmono = 1;
  RunDir dir = RunDir::create(tmp.path / "run");
  nlohmann::json summary = Trainer(task, s.train, s.optim, s.run).fit(dir, false);
  ASSERT_GE(task.at_eval.size(), 6u);
  ASSERT_EQ(task.at_step.size(), 24u);
  for (int v = 0; v < 4; ++v)  // validations at updates 4, 8, 12, 16: raw weights
    EXPECT_TRUE(torch::equal(task.at_eval[v], task.at_step[4 * (v + 1)])) << v;
  torch::Tensor mean = torch::zeros_like(task.at_step[0]);
  for (int k = 17; k <= 20; ++k) mean += task.at_step[k] / 4.0;
  EXPECT_LE((task.at_eval[4] - mean).abs().max().item<double>(), 1e-6);
  EXPECT_GT((task.at_eval[4] - task.at_step[20]).abs().max().item<double>(), 1e-6);
  EXPECT_EQ(summary["asgd_averaged_updates"].get<int64_t>(), 8);
  // adam has no NT-ASGD: a config error
  s.optim.name = "adam";
  ConfigSchema schema;
  s.optim.bind(schema);
  EXPECT_THROW(s.optim.validate(schema, s.train), ConfigError);
}

// optim.asgd_start_epoch: with validations that keep improving the trigger
// never fires, and averaging starts with the first update of epoch 3 (4
// updates an epoch: update 9); the validation after epoch 4 (update 16) sees
// the mean of iterates 9..16, the one after epoch 2 the weights themselves.
TEST(Trainer, NtAsgdStartsAveragingAtTheGivenEpochAtTheLatest) {
  struct Recorded : RegressionTask {
    std::vector<torch::Tensor> at_step, at_eval;
    StepOutput train_step(int64_t i) override {
      at_step.push_back(net->weight.detach().clone());
      return RegressionTask::train_step(i);
    }
    Metrics evaluate(const std::string& split) override {
      if (split != "valid") return {};
      at_eval.push_back(net->weight.detach().clone());
      return {{"loss", 10.0 - static_cast<double>(evals++)}};  // always a new best
    }
  };
  TempDir tmp;
  torch::manual_seed(0);
  Recorded task;
  Sections s;
  s.train.max_epochs = 5;
  s.optim.name = "sgd";
  s.optim.lr = 0.02;
  s.optim.asgd_nonmono = 5;
  s.optim.asgd_start_epoch = 3;
  RunDir dir = RunDir::create(tmp.path / "run");
  nlohmann::json summary = Trainer(task, s.train, s.optim, s.run).fit(dir, false);
  ASSERT_EQ(task.at_step.size(), 20u);
  ASSERT_GE(task.at_eval.size(), 4u);
  EXPECT_EQ(summary["asgd_averaged_updates"].get<int64_t>(), 12);
  EXPECT_TRUE(torch::equal(task.at_eval[1], task.at_step[8]));
  torch::Tensor mean = torch::zeros_like(task.at_step[0]);
  for (int k = 9; k <= 16; ++k) mean += task.at_step[k] / 8.0;
  EXPECT_LE((task.at_eval[3] - mean).abs().max().item<double>(), 1e-6);
  EXPECT_GT((task.at_eval[3] - task.at_step[16]).abs().max().item<double>(), 1e-6);
  // without NT-ASGD itself: a config error naming the key
  s.optim.asgd_nonmono = 0;
  ConfigSchema schema;
  s.optim.bind(schema);
  try {
    s.optim.validate(schema, s.train);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("optim.asgd_start_epoch"), std::string::npos) << e.what();
  }
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
  // What the loss is, as the task says, in the summary and on the curve's axis.
  EXPECT_EQ(summary["loss_label"], "loss");
  EXPECT_NE(
      rnnlab::test::read_all(dir.file("learning_curve.gp").string()).find("set ylabel 'loss'"),
      std::string::npos);
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

TEST(TrainingState, RoundTripsBitForBitThroughYaml) {
  TrainingState s;
  s.step = 1877, s.epoch = 3, s.batch = 227, s.last_eval_step = 1877, s.units = 187700;
  s.train_seconds = 2279.1420744340057;
  s.window = {289.36941623687744, 1.8333932530000001, 200, 2};
  s.validation = {45.42, 1877, 2, 1, 0.1 * 0.1};
  s.last_loss = 1.0 / 3.0;
  s.engine = YAML::Node(YAML::NodeType::Map);
  s.engine["threads"] = 2;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100; ++i) {
    // Doubles of every magnitude come back exactly (17 significant digits).
    double x = std::ldexp(static_cast<double>(rng() >> 11), static_cast<int>(rng() % 80) - 100);
    s.window.loss = x;
    TrainingState r = TrainingState::from_yaml(s.to_yaml(), "t");
    ASSERT_EQ(r.window.loss, x) << s.to_yaml();
  }
  TrainingState r = TrainingState::from_yaml(s.to_yaml(), "t");
  EXPECT_EQ(r.step, 1877);
  EXPECT_EQ(r.epoch, 3);
  EXPECT_EQ(r.batch, 227);
  EXPECT_EQ(r.last_eval_step, 1877);
  EXPECT_EQ(r.units, 187700);
  EXPECT_EQ(r.train_seconds, s.train_seconds);
  EXPECT_EQ(r.window.seconds, s.window.seconds);
  EXPECT_EQ(r.window.units, 200);
  EXPECT_EQ(r.window.steps, 2);
  EXPECT_EQ(r.validation.best, 45.42);
  EXPECT_EQ(r.validation.best_step, 1877);
  EXPECT_EQ(r.validation.bad_evals, 2);
  EXPECT_EQ(r.validation.since_decay, 1);
  EXPECT_EQ(r.validation.lr_scale, 0.1 * 0.1);
  EXPECT_EQ(r.last_loss, 1.0 / 3.0);
  EXPECT_EQ(r.engine["threads"].as<int>(), 2);
  // No validation yet: the best value is NaN, and stays NaN.
  s.validation = ValidationState{};
  EXPECT_TRUE(std::isnan(TrainingState::from_yaml(s.to_yaml(), "t").validation.best));
}

TEST(TrainingState, AMissingOrMalformedFieldIsNamed) {
  TrainingState s;
  std::string text = s.to_yaml();
  auto error_of = [](const std::string& t) {
    try {
      TrainingState::from_yaml(t, "checkpoint 'c.pt'");
    } catch (const DataError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::string no_step = text;
  no_step.replace(no_step.find("step: 0"), 7, "stop: 0");
  EXPECT_EQ(error_of(no_step), "checkpoint 'c.pt': the training state has no 'step'");
  std::string bad_units = text;
  bad_units.replace(bad_units.find("units: 0, steps"), 8, "units: x");
  EXPECT_EQ(error_of(bad_units),
            "checkpoint 'c.pt': the training state's 'window.units' is malformed");
  EXPECT_NE(error_of("[1, 2").find("is not YAML"), std::string::npos);
  EXPECT_EQ(error_of("- 1\n"), "checkpoint 'c.pt': the training state is not a YAML map");
}

TEST(TrainingState, EveryCheckpointCarriesItAndHasItsYamlBeside) {
  TempDir tmp;
  torch::manual_seed(0);
  RegressionTask task;
  Sections s;
  s.train.max_epochs = 3;
  s.train.log_every = 3;
  RunDir dir = RunDir::create(tmp.path / "run");
  Trainer(task, s.train, s.optim, s.run).fit(dir, false);
  for (const char* f : {"checkpoint_last.pt", "checkpoint_best.pt"}) {
    TrainingState st = Trainer::read_state(dir.file(f));
    std::string yml = test::read_all(dir.file(std::string(f) + ".yml").string());
    EXPECT_EQ(yml, st.to_yaml()) << f;
    EXPECT_EQ(st.step, 12) << f;  // 3 epochs of 4 batches, best at the last one
    EXPECT_EQ(st.epoch, 3) << f;
    EXPECT_EQ(st.batch, 0) << f;
    EXPECT_EQ(st.units, 12 * 16) << f;
    EXPECT_EQ(st.validation.best_step, 12) << f;
    EXPECT_EQ(st.window.steps, 0) << f;  // the 12th update closed a window of 3
  }
  // A file that is not a checkpoint of this version: one line naming it.
  torch::serialize::OutputArchive other;
  other.write("model", torch::zeros({1}));
  other.save_to((tmp.path / "other.pt").string());
  try {
    Trainer::read_state(tmp.path / "other.pt");
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("has no training state"), std::string::npos) << e.what();
  }
}

// An engine of its own (word2vec's Hogwild is one): it trains whole epochs in
// pieces, and the Trainer keeps the position, the log and the checkpoints.
struct EpochEngine : Engine {
  RegressionTask& task;
  int64_t pieces = 0, stop_after_piece = -1;
  explicit EpochEngine(RegressionTask& t) : task(t) {}
  int64_t steps_per_epoch() const override { return 4; }
  void advance(const TrainingState& s,
               const std::function<bool(const EngineProgress&)>& report) override {
    for (int64_t b = s.batch; b < 4; ++b) {
      torch::NoGradGuard g;
      EngineProgress p;
      p.step = s.step + (b - s.batch) + 1, p.batch = b + 1, p.units = 16, p.loss_sum = 16.0;
      p.lr = 0.5;
      ++pieces;
      if (!report(p) || pieces == stop_after_piece) return;
    }
  }
  void save(torch::serialize::OutputArchive&, YAML::Node& engine) const override {
    engine["pieces"] = pieces;
  }
  void load(torch::serialize::InputArchive&, const YAML::Node& engine,
            const std::filesystem::path&) override {
    pieces = engine["pieces"].as<int64_t>();
  }
};

TEST(Trainer, DrivesAnEngineOfItsOwn) {
  TempDir tmp;
  RegressionTask task;
  Sections s;
  s.train.max_epochs = 2;
  s.train.log_every = 2;
  RunDir dir = RunDir::create(tmp.path / "run");
  auto engine = std::make_unique<EpochEngine>(task);
  EpochEngine* e = engine.get();
  nlohmann::json summary =
      Trainer(task, s.train, s.optim, s.run, nullptr, std::move(engine)).fit(dir, false);
  EXPECT_EQ(summary["steps"].get<int64_t>(), 8);
  EXPECT_EQ(e->pieces, 8);
  EXPECT_EQ(summary["train_loss"].get<double>(), 1.0);
  TrainingState st = Trainer::read_state(dir.file("checkpoint_last.pt"));
  EXPECT_EQ(st.engine["pieces"].as<int64_t>(), 8);
  EXPECT_EQ(st.units, 8 * 16);
  std::string metrics = test::read_all(dir.file("metrics.jsonl").string());
  size_t train = 0;
  for (size_t p = 0; (p = metrics.find("\"type\":\"train\"", p)) != std::string::npos; ++p) ++train;
  EXPECT_EQ(train, 4u);  // a line every 2 updates
}

// ---- data-parallel: two processes of this binary over loopback ----

// The regression both sides of the data-parallel comparison train: in one
// process (`collective` null) or as one rank.
void train_regression(const fs::path& run, Collective* collective) {
  torch::manual_seed(0);
  RegressionTask task;
  Sections s;
  s.train.max_epochs = 5;
  s.train.log_every = 1;
  s.optim.lr = 0.05;
  RunDir dir = RunDir::create(run);
  Trainer trainer(task, s.train, s.optim, s.run);
  trainer.set_collective(collective);
  trainer.fit(dir, false);
}

// One rank of a two-rank regression run, started by the test below.
TEST(TrainerRank, TrainsItsShare) {
  const char* out = std::getenv("RNNLAB_TEST_RUN");
  if (!out) GTEST_SKIP() << "run by Trainer.TwoRanksTrainLikeOneProcessWithTheSameGlobalBatch";
  LaunchInfo info = read_launch();
  Collective collective(info, std::chrono::milliseconds(20000));
  train_regression(fs::path(out) / ("rank" + std::to_string(info.rank)), &collective);
}

TEST(Trainer, TwoRanksTrainLikeOneProcessWithTheSameGlobalBatch) {
  TempDir tmp;
  train_regression(tmp.path / "one", nullptr);

  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::string env =
      "MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(27000 + (::getpid() % 2000)) +
      " WORLD_SIZE=2 RNNLAB_TEST_RUN=" + tmp.path.string() + " ";
  std::string child = " timeout 60 " + self + " --gtest_filter=TrainerRank.* ";
  auto r = test::run_command("(" + env + "RANK=0" + child + "> " + tmp.path.string() +
                             "/rank0.out 2>&1 & a=$!; " + env + "RANK=1" + child +
                             "2>&1; b=$?; wait $a; echo rank0=$? rank1=$b)");
  ASSERT_NE(r.output.find("rank0=0 rank1=0"), std::string::npos)
      << r.output << test::read_all((tmp.path / "rank0.out").string());
  ASSERT_NE(r.output.find("[       OK ] TrainerRank.TrainsItsShare"), std::string::npos)
      << r.output;
  // Rank 1 wrote nothing; rank 0 wrote the run.
  EXPECT_TRUE(fs::is_empty(tmp.path / "rank1"));
  EXPECT_TRUE(fs::exists(tmp.path / "rank0" / "summary.json"));
  EXPECT_TRUE(fs::exists(tmp.path / "rank0" / "checkpoint_best.pt"));
  // The same losses, update by update, to float rounding (a mean over 16
  // rows against the mean of two means over 8).
  auto losses = [](const fs::path& run) {
    std::vector<double> out;
    std::istringstream in(test::read_all((run / "metrics.jsonl").string()));
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line);
      out.push_back(j["loss"].get<double>());
    }
    return out;
  };
  std::vector<double> a = losses(tmp.path / "one"), b = losses(tmp.path / "rank0");
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(a.size(), 25u);  // 20 updates and 5 validations
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6 * (1 + std::abs(a[i]))) << i;
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

TEST(RunDirectory, EveryNewRunIsLockedWhileItsMakerLives) {
  TempDir tmp;
  fs::path path = tmp.path / "run";
  {
    NewRun made = create_run(path, "# config\n");
    EXPECT_EQ(test::read_all((path / "config.yaml").string()), "# config\n");
    try {
      RunDirLock second(path);
      FAIL() << "a second lock was granted";
    } catch (const RuntimeError& e) {
      EXPECT_NE(std::string(e.what()).find("is in use by another process"), std::string::npos);
    }
  }
  RunDirLock after(path);  // released with the NewRun
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

TEST(RunDirectory, LearningCurveHasTheValidationMetricOnTheRightAxis) {
  TempDir tmp;
  RunDir dir = RunDir::create(tmp.path / "run");
  write_file_atomic(
      dir.file("metrics.jsonl"),
      "{\"type\":\"train\",\"step\":10,\"loss\":2.5}\n"
      "{\"type\":\"valid\",\"step\":10,\"loss\":2.25,\"accuracy\":40.5,\"best\":true}\n"
      "{\"type\":\"train\",\"step\":20,\"loss\":null}\n"  // a non-finite loss is skipped
      "{\"type\":\"valid\",\"step\":20,\"loss\":1.5,\"accuracy\":62.25,\"best\":true}\n"
      "{\"type\":\"valid\",\"step\":30,\"loss\":1.75,\"accuracy\":61}\n"
      "{\"type\":\"test\",\"step\":30,\"loss\":9,\"accuracy\":1}\n");
  dir.plot_learning_curve("nats", "accuracy");
  const std::string data = test::read_all(dir.file("learning_curve.dat").string());
  EXPECT_NE(data.find("\n10 2.5\n\n\n10 2.25\n20 1.5\n30 1.75\n\n\n10 40.5\n20 62.25\n30 61\n"),
            std::string::npos)
      << data;
  const std::string script = test::read_all(dir.file("learning_curve.gp").string());
  EXPECT_NE(script.find("set ylabel 'nats'"), std::string::npos) << script;
  EXPECT_NE(script.find("set y2label 'validation accuracy'"), std::string::npos) << script;
  EXPECT_NE(script.find("using (20):(62.25)"), std::string::npos) << script;  // the last best
  EXPECT_NE(script.find("'best: 62.25 at step 20'"), std::string::npos) << script;
  // the loss as the metric (a language model's): one axis
  dir.plot_learning_curve("nats", "loss");
  EXPECT_EQ(test::read_all(dir.file("learning_curve.gp").string()).find("y2"), std::string::npos);
}

}  // namespace
}  // namespace rnnlab
