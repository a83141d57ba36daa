// Launch variables (torchrun, Slurm, none) and the c10d collectives, the
// latter between two processes of this test binary over loopback.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>

#include "apps/framework/distributed.h"
#include "core/error.h"
#include "tests/support/support.h"

namespace rnnlab {
namespace {

// An environment of exactly these variables.
EnvReader env_of(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

std::string usage_error(const EnvReader& env, const std::string& slurm_addr = "") {
  try {
    read_launch(env, slurm_addr);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Launch, NoVariablesIsOneProcess) {
  LaunchInfo info = read_launch(env_of({}));
  EXPECT_EQ(info.world_size, 1);
  EXPECT_EQ(info.rank, 0);
  EXPECT_FALSE(info.distributed());
  EXPECT_EQ(info.launcher, "none");
}

TEST(Launch, TorchrunVariables) {
  LaunchInfo info = read_launch(env_of({{"RANK", "3"},
                                        {"WORLD_SIZE", "8"},
                                        {"LOCAL_RANK", "1"},
                                        {"MASTER_ADDR", "node1"},
                                        {"MASTER_PORT", "29400"}}));
  EXPECT_EQ(info.launcher, "torchrun");
  EXPECT_EQ(info.rank, 3);
  EXPECT_EQ(info.world_size, 8);
  EXPECT_EQ(info.local_rank, 1);
  EXPECT_EQ(info.master_addr, "node1");
  EXPECT_EQ(info.master_port, 29400);
  EXPECT_TRUE(info.distributed());
}

TEST(Launch, APartialOrMalformedSetIsOneLineNamingTheVariable) {
  std::map<std::string, std::string> full = {{"RANK", "1"},
                                             {"WORLD_SIZE", "2"},
                                             {"LOCAL_RANK", "1"},
                                             {"MASTER_ADDR", "127.0.0.1"},
                                             {"MASTER_PORT", "29400"}};
  auto without = [&](const std::string& name) {
    auto m = full;
    m.erase(name);
    return env_of(m);
  };
  auto with = [&](const std::string& name, const std::string& value) {
    auto m = full;
    m[name] = value;
    return env_of(m);
  };
  EXPECT_EQ(usage_error(without("WORLD_SIZE")),
            "launch variable RANK is set but WORLD_SIZE is not (torchrun sets RANK, WORLD_SIZE, "
            "LOCAL_RANK, MASTER_ADDR and MASTER_PORT)");
  EXPECT_NE(usage_error(without("RANK")).find("WORLD_SIZE is set but RANK is not"),
            std::string::npos);
  EXPECT_NE(usage_error(without("MASTER_PORT")).find("but MASTER_PORT is not"), std::string::npos);
  EXPECT_EQ(usage_error(with("RANK", "one")), "launch variable RANK='one' is not a whole number");
  EXPECT_EQ(usage_error(with("RANK", "2")),
            "launch variable RANK=2 is outside 0..1 (WORLD_SIZE=2)");
  EXPECT_EQ(usage_error(with("WORLD_SIZE", "0")),
            "launch variable WORLD_SIZE=0 must be at least 1");
  EXPECT_EQ(usage_error(with("MASTER_PORT", "70000")),
            "launch variable MASTER_PORT=70000 is outside 1..65535");
  EXPECT_EQ(usage_error(with("LOCAL_RANK", "-1")), "launch variable LOCAL_RANK=-1 is negative");
  EXPECT_EQ(usage_error(with("MASTER_PORT", "29400x")),
            "launch variable MASTER_PORT='29400x' is not a whole number");
}

TEST(Launch, SlurmStepVariables) {
  std::map<std::string, std::string> slurm = {
      {"SLURM_STEP_ID", "0"}, {"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"}};
  // The master's address: from the environment, else the config's key.
  EXPECT_EQ(usage_error(env_of(slurm)),
            "a Slurm step of several tasks needs the master's address: export MASTER_ADDR (the "
            "first host of $SLURM_JOB_NODELIST) or set run.master_addr");
  LaunchInfo info = read_launch(env_of(slurm), "node7", 29501);
  EXPECT_EQ(info.launcher, "slurm");
  EXPECT_EQ(info.rank, 5);
  EXPECT_EQ(info.world_size, 8);
  EXPECT_EQ(info.local_rank, 1);
  EXPECT_EQ(info.master_addr, "node7");
  EXPECT_EQ(info.master_port, 29501);
  slurm["MASTER_ADDR"] = "node2";
  slurm["MASTER_PORT"] = "1234";
  info = read_launch(env_of(slurm), "node7");
  EXPECT_EQ(info.master_addr, "node2");
  EXPECT_EQ(info.master_port, 1234);
  // A batch script's own shell (no step) and a one-task step: one process.
  slurm.erase("SLURM_STEP_ID");
  EXPECT_FALSE(read_launch(env_of(slurm)).distributed());
  slurm["SLURM_STEP_ID"] = "0";
  slurm["SLURM_NTASKS"] = "1";
  slurm["SLURM_PROCID"] = "0";
  EXPECT_FALSE(read_launch(env_of(slurm)).distributed());
}

// ---- two processes ----

// The child: rank RNNLAB_TEST_RANK of 2, run by Collective.TwoProcesses... below.
TEST(CollectiveChild, AveragesSumsAndAgrees) {
  const char* rank_var = std::getenv("RNNLAB_TEST_RANK");
  if (!rank_var) GTEST_SKIP() << "run by Collective.TwoRanksAverageGradientsInBuckets";
  LaunchInfo info = read_launch();
  ASSERT_EQ(info.rank, std::atoi(rank_var));
  Collective c(info, std::chrono::milliseconds(20000));
  const double r = static_cast<double>(c.rank());
  // Gradients (r+1) x, for parameters of several sizes and buckets of 1 KB:
  // the average over ranks 0 and 1 is 1.5 x.
  std::vector<torch::Tensor> params;
  for (int64_t n : {3, 300, 7, 1000, 1}) {
    torch::Tensor p = torch::zeros({n}, torch::requires_grad());
    p.mutable_grad() = torch::arange(n, torch::kFloat) * static_cast<float>(r + 1);
    params.push_back(p);
  }
  params.push_back(torch::zeros({5}, torch::requires_grad()));  // no gradient on either rank
  c.average_gradients(params, 1024);
  for (size_t i = 0; i + 1 < params.size(); ++i)
    ASSERT_TRUE(
        torch::allclose(params[i].grad(), torch::arange(params[i].numel(), torch::kFloat) * 1.5f))
        << i;
  ASSERT_TRUE(torch::equal(params.back().grad(), torch::zeros({5})));
  std::vector<double> s = c.sum({r, 10 * r + 0.25});
  ASSERT_EQ(s, (std::vector<double>{1.0, 10.5}));
  ASSERT_EQ(c.broadcast(c.rank() == 0 ? 42 : 7), 42);
  ASSERT_TRUE(c.any(c.rank() == 1));
  ASSERT_FALSE(c.any(false));
  c.barrier();
}

TEST(Collective, TwoRanksAverageGradientsInBuckets) {
  std::string port = std::to_string(29000 + (::getpid() % 2000));
  std::string env = "MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " WORLD_SIZE=2 ";
  std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string cmd =
      "(" + env + "RANK=0 RNNLAB_TEST_RANK=0 timeout 60 " + self +
      " --gtest_filter=CollectiveChild.* > /dev/null 2>&1 & a=$!; " + env +
      "RANK=1 RNNLAB_TEST_RANK=1 timeout 60 " + self +
      " --gtest_filter=CollectiveChild.* 2>&1; b=$?; wait $a; echo rank0=$? rank1=$b)";
  auto r = test::run_command(cmd);
  EXPECT_NE(r.output.find("rank0=0 rank1=0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[       OK ] CollectiveChild.AveragesSumsAndAgrees"), std::string::npos)
      << r.output;  // ran, not skipped
}

TEST(Collective, ARankThatNeverComesIsAnErrorWithinTheTimeout) {
  LaunchInfo info;
  info.rank = 0, info.world_size = 2, info.master_addr = "127.0.0.1";
  info.master_port = 29000 + (::getpid() % 2000) + 1;
  try {
    Collective c(info, std::chrono::milliseconds(1500));
    FAIL() << "met a rank that does not exist";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("rank 0 of 2: the ranks did not meet at 127.0.0.1:"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace rnnlab
