// Tests of rnnlab-cells: the custom-vs-builtin comparison on tiny shapes, shape
// validation, the gradient-flow measurement, and the binary's command line.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "apps/cells/task.h"
#include "core/error.h"
#include "tests/support/support.h"

using namespace rnnlab;
using namespace rnnlab::cells;
namespace fs = std::filesystem;

namespace {

const std::string kBinary = std::string(RNNLAB_BINARY_DIR) + "/bin/rnnlab-cells";

CompareConfig tiny_compare() {
  CompareConfig cfg;
  cfg.compare.shapes = {"3x5x4x6", "2x3x7x5"};
  cfg.compare.warmup = 0;
  cfg.compare.repeats = 2;
  cfg.compare.min_seconds = 0;
  return cfg;
}

}  // namespace

TEST(CellsShape, ParsesBxTxIxH) {
  Shape s = parse_shape("64x100x256x512", "compare.shapes");
  EXPECT_EQ(s.batch, 64);
  EXPECT_EQ(s.steps, 100);
  EXPECT_EQ(s.input, 256);
  EXPECT_EQ(s.hidden, 512);
  EXPECT_EQ(s.str(), "64x100x256x512");
}

TEST(CellsShape, BadShapeIsAConfigErrorNamingKeyAndEntry) {
  for (const char* bad :
       {"64x100x256", "64x100x256x0", "64x-1x2x3", "axbxcxd", "", "1x2x3x4x5", "64 x100x256x512"}) {
    try {
      parse_shape(bad, "compare.shapes", "compare.yaml:4");
      FAIL() << "no error for '" << bad << "'";
    } catch (const ConfigError& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("compare.shapes"), std::string::npos) << msg;
      EXPECT_NE(msg.find(std::string("'") + bad + "'"), std::string::npos) << msg;
      EXPECT_NE(msg.find("compare.yaml:4"), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
}

TEST(CellsConfig, ValidateRejectsBadShapesAndCells) {
  {
    CompareConfig cfg;
    ConfigSchema s;
    cfg.bind(s);
    s.apply_override("compare.shapes=[32x35x128x128, 32x35x128]");
    s.finalize();
    try {
      cfg.validate(s);
      FAIL();
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("'32x35x128'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("--set"), std::string::npos) << e.what();
    }
  }
  {
    CompareConfig cfg;
    ConfigSchema s;
    cfg.bind(s);
    s.apply_override("compare.cells=[lstm, transformer]");
    s.finalize();
    EXPECT_THROW(cfg.validate(s), ConfigError);
  }
  {
    GradflowConfig cfg;
    ConfigSchema s;
    cfg.bind(s);
    s.apply_override("gradflow.cells=[]");
    s.finalize();
    EXPECT_THROW(cfg.validate(s), ConfigError);
  }
}

TEST(CellsCompare, TinyShapesAgreeAndRowsHaveTheKeys) {
  torch::manual_seed(0);
  for (bool bidirectional : {false, true}) {
    CompareConfig cfg = tiny_compare();
    cfg.compare.bidirectional = bidirectional;
    cfg.compare.layers = bidirectional ? 2 : 1;
    std::vector<CompareRow> rows = run_compare(cfg, torch::kCPU);
    ASSERT_EQ(rows.size(), 8u);  // 4 cells x 2 shapes
    for (const auto& r : rows) {
      EXPECT_LT(r.max_abs_diff_output, 1e-5) << r.cell << " " << r.shape;
      EXPECT_LT(r.max_abs_diff_state, 1e-5) << r.cell << " " << r.shape;
      EXPECT_LT(r.max_abs_diff_grad, 1e-5) << r.cell << " " << r.shape;
      EXPECT_GT(r.fwd_ms_custom, 0.0);
      EXPECT_GT(r.fwdbwd_ms_builtin, 0.0);
      EXPECT_NEAR(r.fwdbwd_ratio, r.fwdbwd_ms_custom / r.fwdbwd_ms_builtin, 1e-12);
    }
    nlohmann::json j = compare_json(rows);
    ASSERT_EQ(j.size(), rows.size());
    for (const auto& obj : j)
      for (const char* key :
           {"cell", "shape", "max_abs_diff_output", "max_abs_diff_grad", "fwd_ms_custom",
            "fwd_ms_builtin", "fwdbwd_ms_custom", "fwdbwd_ms_builtin", "fwdbwd_ratio"})
        EXPECT_TRUE(obj.contains(key)) << key;
    EXPECT_EQ(j[0]["cell"], "rnn_tanh");
    EXPECT_EQ(j[0]["shape"], "3x5x4x6");
    std::string csv = compare_csv(rows);
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 9);
    EXPECT_EQ(csv.rfind("cell,shape,max_abs_diff_output,", 0), 0u);
    std::string table = compare_table(rows);
    EXPECT_NE(table.find("lstm"), std::string::npos);
  }
}

TEST(CellsCompare, DoubleAgreesToRoundOff) {
  CompareConfig cfg = tiny_compare();
  cfg.compare.dtype = "double";
  cfg.compare.cells = {"lstm", "gru"};
  for (const auto& r : run_compare(cfg, torch::kCPU)) {
    EXPECT_LT(r.max_abs_diff_output, 1e-12) << r.cell;
    EXPECT_LT(r.max_abs_diff_grad, 1e-12) << r.cell;
  }
}

TEST(CellsGradflow, NormsAreFinitePositiveAndTheRNNsVanish) {
  GradflowConfig cfg;
  auto& g = cfg.gradflow;
  g.steps = 30;
  g.hidden = 16;
  g.embedding = 8;
  g.batch_size = 8;
  g.train_steps = 5;
  g.eval_size = 16;
  std::vector<GradflowCurve> curves = run_gradflow(cfg, torch::kCPU);
  ASSERT_EQ(curves.size(), 3u);
  for (const auto& c : curves) {
    ASSERT_EQ(c.init.size(), 30u) << c.cell;
    ASSERT_EQ(c.trained.size(), 30u) << c.cell;
    for (size_t t = 0; t < 30; ++t) {
      EXPECT_TRUE(std::isfinite(c.init[t]) && c.init[t] > 0) << c.cell << " t=" << t + 1;
      EXPECT_TRUE(std::isfinite(c.trained[t]) && c.trained[t] > 0) << c.cell << " t=" << t + 1;
    }
    EXPECT_GE(c.accuracy, 0.0);
    EXPECT_LE(c.accuracy, 1.0);
  }
  EXPECT_EQ(curves[0].cell, "rnn");
  // vanishing: the gradient reaching the first step is far smaller than at the last
  EXPECT_LT(curves[0].init.front(), 1e-2 * curves[0].init.back());

  std::string csv = gradflow_csv(curves);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "t,rnn_init,rnn_trained,lstm_init,lstm_trained,gru_init,gru_trained");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 31);
}

TEST(CellsBinary, CompareWritesRunDirectory) {
  test::TempDir tmp;
  std::string cfg = test::write_file(tmp.file("c.yaml"),
                                     "compare:\n  cells: [lstm, gru]\n  shapes: [2x3x4x5]\n"
                                     "  warmup: 0\n  repeats: 1\n  min_seconds: 0\n");
  auto r = test::run_command(kBinary + " compare " + cfg + " --run-dir " + tmp.file("run"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("f+b cust"), std::string::npos) << r.output;
  for (const char* f : {"compare.csv", "compare.json", "summary.json", "config.yaml", "log.txt"})
    EXPECT_TRUE(fs::exists(tmp.path / "run" / f)) << f;
  auto rows = nlohmann::json::parse(test::read_all(tmp.file("run/compare.json")));
  EXPECT_EQ(rows.size(), 2u);
  // SIGTERM while measuring keeps the rows already measured.
  r = test::run_command("(" + kBinary + " compare " + cfg +
                        " --set 'compare.shapes=[2x3x4x5,64x200x256x512]' --set "
                        "compare.min_seconds=30 --run-dir " +
                        tmp.file("stopped") + " >/dev/null 2>&1 & pid=$!; while [ ! -f " +
                        tmp.file("stopped") +
                        "/compare.json ]; do sleep 0.05; done; kill -TERM $pid; wait $pid; "
                        "echo exit=$?)");
  EXPECT_NE(r.output.find("exit=143"), std::string::npos) << r.output;
  auto kept = nlohmann::json::parse(test::read_all(tmp.file("stopped/compare.json")));
  EXPECT_GE(kept.size(), 1u);
  EXPECT_LT(kept.size(), 4u);
  // compare has no --resume: an existing run directory points elsewhere.
  r = test::run_command(kBinary + " compare " + cfg + " --run-dir " + tmp.file("run"));
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.output, "error: run directory '" + tmp.file("run") +
                          "' already exists and is not empty; choose another --run-dir\n");
  // A shape too large for memory: one line in words, not libtorch's source.
  r = test::run_command(kBinary + " compare " + cfg +
                        " --set 'compare.shapes=[64x100000x100000x100000]' --set "
                        "'compare.cells=[lstm]' --run-dir " +
                        tmp.file("huge"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("\nerror: not enough memory: you tried to allocate "), std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("enforce fail"), std::string::npos) << r.output;
}

TEST(CellsBinary, ConfigErrorsAreOneLineWithExitCode2) {
  test::TempDir tmp;
  std::string cfg = test::write_file(tmp.file("c.yaml"), "compare:\n  shapes: [64x100x256]\n");
  auto r = test::run_command(kBinary + " compare " + cfg + " --run-dir " + tmp.file("run"));
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.output,
            "error: key 'compare.shapes' (" + cfg +
                ":2): bad shape '64x100x256'; expected BxTxIxH (batch x steps x input x hidden), "
                "e.g. 64x100x256x512\n");
  EXPECT_FALSE(fs::exists(tmp.file("run")));

  r = test::run_command(kBinary + " gradflow " + cfg);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("unknown key 'compare'"), std::string::npos) << r.output;

  r = test::run_command(kBinary + " gradflow " + std::string(RNNLAB_SOURCE_DIR) +
                        "/experiments/cells/gradflow.yaml --set gradflow.cells=[rnn,tree]");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("entry 'tree' is not allowed"), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;

  r = test::run_command(kBinary + " compare");
  EXPECT_EQ(r.code, 2);
  r = test::run_command(kBinary + " compare " + std::string(RNNLAB_SOURCE_DIR) +
                        "/experiments/cells/compare.yaml --print-config");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("64x100x256x512"), std::string::npos) << r.output;
}
