// rnnlab_results (parent summaries, reading runs, gnuplot) and rnnlab-report
// on synthetic run directories. No libtorch.
#include <gtest/gtest.h>

#include <sstream>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "results/gnuplot.h"
#include "results/results.h"
#include "tests/support/support.h"

namespace fs = std::filesystem;
using nlohmann::json;
using rnnlab::test::run_command;
using rnnlab::test::TempDir;
using rnnlab::test::write_file;

namespace {

const std::string kReport = RNNLAB_BINARY_DIR "/bin/rnnlab-report";

bool have_gnuplot() {
  return run_command("command -v gnuplot").code == 0;
}

/// A shell word: 'text' with ' written as '\''.
std::string sh(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// A finished plain run: config.yaml, metrics.jsonl (validation at steps 100,
/// 200, 300 falling towards `val_loss`), summary.json.
void make_run(const fs::path& dir, const std::string& impl, int seed, double val_loss,
              int64_t steps = 300) {
  fs::create_directories(dir);
  write_file((dir / "config.yaml").string(),
             "run:\n  name: lm\n  dir: " + dir.parent_path().string() +
                 "\n  seed: " + std::to_string(seed) + "\n" + "data:\n  cache: " + dir.string() +
                 "/cache\n"  // differs by the run dir only: not a difference
                 "model:\n  rnn:\n    impl: " +
                 impl + "\n    hidden: 16\n  sizes: [1, 2]\n");
  std::string metrics;
  for (int step = 100; step <= 300; step += 100) {
    double loss = val_loss + (300 - step) * 0.002;
    metrics +=
        json{{"type", "train"}, {"step", step}, {"loss", loss + 0.1}, {"lr", 0.002}}.dump() + "\n";
    metrics += json{{"type", "valid"},
                    {"step", step},
                    {"loss", loss},
                    {"bpc", loss / 0.693},
                    {"best", true}}
                   .dump() +
               "\n";
  }
  metrics += "{\"type\":\"valid\",\"step\":40";  // cut off by a crash
  write_file((dir / "metrics.jsonl").string(), metrics);
  json summary = {{"val_loss", val_loss},
                  {"val_bpc", val_loss / 0.693},
                  {"test_loss", val_loss + 0.01},
                  {"steps", steps},
                  {"train_seconds", 12.5},
                  {"stop_reason", "max_steps"},
                  {"converged", true},
                  {"loss_label", "cross-entropy (nats per token)"}};
  write_file((dir / "summary.json").string(), summary.dump(2));
}

/// A parent run with sub-runs seed1.. and their aggregated summary.
void make_parent(const fs::path& dir, const std::string& impl, const std::vector<double>& losses) {
  std::vector<std::pair<std::string, json>> subs;
  for (size_t i = 0; i < losses.size(); ++i) {
    std::string name = "seed" + std::to_string(i + 1);
    make_run(dir / name, impl, static_cast<int>(i + 1), losses[i]);
    subs.emplace_back(name, json::parse(rnnlab::test::read_all((dir / name / "summary.json"))));
  }
  write_file((dir / "summary.json").string(), rnnlab::aggregate_summaries(subs).dump(2));
}

}  // namespace

TEST(Aggregate, HandComputedMeanSampleStdMinMax) {
  json a = {{"val_loss", 1.0}, {"steps", 100}, {"flag", true}, {"reason", "x"}, {"only_a", 3.0}};
  json b = {{"val_loss", 2.0}, {"steps", 200}, {"flag", false}, {"reason", "y"}};
  json c = {{"val_loss", 4.0}, {"steps", 300}, {"flag", true}, {"reason", "z"}};
  json s = rnnlab::aggregate_summaries({{"seed1", a}, {"seed2", b}, {"seed3", c}});
  EXPECT_EQ(s["runs"], json({"seed1", "seed2", "seed3"}));
  EXPECT_EQ(s["runs_finished"], 3);
  // mean 7/3; squared deviations 16/9 + 1/9 + 25/9 = 42/9; / (n-1) = 7/3.
  EXPECT_NEAR(s["val_loss_mean"].get<double>(), 7.0 / 3.0, 1e-12);
  EXPECT_NEAR(s["val_loss_std"].get<double>(), std::sqrt(7.0 / 3.0), 1e-12);
  EXPECT_DOUBLE_EQ(s["val_loss_min"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(s["val_loss_max"].get<double>(), 4.0);
  EXPECT_DOUBLE_EQ(s["steps_mean"].get<double>(), 200.0);
  EXPECT_DOUBLE_EQ(s["steps_std"].get<double>(), 100.0);
  EXPECT_TRUE(s["steps_min"].is_number_integer());
  EXPECT_EQ(s["steps_min"], 100);
  EXPECT_EQ(s["steps_max"], 300);
  for (const char* skipped : {"flag_mean", "reason_mean", "only_a_mean", "runs_mean"})
    EXPECT_FALSE(s.contains(skipped)) << skipped;
  // Nothing but runs, runs_finished and 4 statistics for each of 2 keys.
  EXPECT_EQ(s.size(), 2u + 4u * 2u);
}

TEST(Aggregate, OneRunHasZeroStdAndUnfinishedRunsAreListedNotCounted) {
  json s = rnnlab::aggregate_summaries({{"fold01", {{"acc", 0.5}}}, {"fold02", nullptr}});
  EXPECT_EQ(s["runs"], json({"fold01", "fold02"}));
  EXPECT_EQ(s["runs_finished"], 1);
  EXPECT_DOUBLE_EQ(s["acc_mean"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(s["acc_std"].get<double>(), 0.0);
  json none = rnnlab::aggregate_summaries({});
  EXPECT_EQ(none["runs_finished"], 0);
  EXPECT_TRUE(none["runs"].empty());
}

TEST(Gnuplot, QuoteDoublesSingleQuotesAndKeepsTheRest) {
  EXPECT_EQ(rnnlab::gnuplot_quote("plain"), "'plain'");
  EXPECT_EQ(rnnlab::gnuplot_quote(""), "''");
  EXPECT_EQ(rnnlab::gnuplot_quote("it's"), "'it''s'");
  EXPECT_EQ(rnnlab::gnuplot_quote("''"), "''''''");
  EXPECT_EQ(rnnlab::gnuplot_quote("a\\n $(x) `y` @m \"q\""), "'a\\n $(x) `y` @m \"q\"'");
  EXPECT_EQ(rnnlab::gnuplot_quote("two\nlines\r"), "'two lines '");
}

TEST(Gnuplot, RunsWithoutAShellInADirectoryWithQuotesAndSpaces) {
  if (!have_gnuplot()) GTEST_SKIP() << "gnuplot is not installed";
  TempDir tmp;
  fs::path dir = tmp.path / "it's a $(touch pwned) `touch pwned2` dir";
  fs::create_directories(dir);
  const std::string out_name = "out's $(touch pwned3).svg";
  write_file((dir / "plot's.gp").string(),
             "set terminal svg size 300,200\nset output " + rnnlab::gnuplot_quote(out_name) +
                 "\nset title " + rnnlab::gnuplot_quote("`touch pwned4` it's") + "\nplot x\n");
  ASSERT_TRUE(rnnlab::run_gnuplot(dir / "plot's.gp", dir));
  EXPECT_TRUE(fs::exists(dir / out_name));
  for (const auto& entry : fs::recursive_directory_iterator(tmp.path))
    EXPECT_EQ(entry.path().filename().string().rfind("pwned", 0), std::string::npos)
        << entry.path();
  EXPECT_FALSE(fs::exists("pwned"));
  // A relative script is found from the caller's directory, not the workdir.
  write_file(tmp.file("rel.gp"), "set terminal svg\nset output 'rel.svg'\nplot x\n");
  fs::path cwd = fs::current_path();
  fs::current_path(tmp.path);
  bool ok = rnnlab::run_gnuplot("rel.gp", dir);
  fs::current_path(cwd);
  EXPECT_TRUE(ok);
  EXPECT_TRUE(fs::exists(dir / "rel.svg"));
}

TEST(Gnuplot, FalseWhenTheScriptFailsOrGnuplotIsMissing) {
  TempDir tmp;
  write_file(tmp.file("bad.gp"), "this is not gnuplot\n");
  if (have_gnuplot()) {
    EXPECT_FALSE(rnnlab::run_gnuplot(tmp.file("bad.gp"), tmp.path));
  }
  write_file(tmp.file("good.gp"), "set terminal svg\nset output 'g.svg'\nplot x\n");
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", tmp.path.c_str(), 1);
  bool ok = rnnlab::run_gnuplot(tmp.file("good.gp"), tmp.path);
  ::setenv("PATH", path.c_str(), 1);
  EXPECT_FALSE(ok);
  EXPECT_FALSE(rnnlab::run_gnuplot(tmp.file("good.gp"), tmp.path / "no such dir"));
}

TEST(Results, FlattenConfigUsesDottedKeys) {
  TempDir tmp;
  write_file(tmp.file("config.yaml"),
             "model:\n  rnn:\n    impl: builtin\n    hidden: 512\n  sizes: [1, 2]\n"
             "run:\n  name: ~\n");
  auto c = rnnlab::flatten_config(tmp.file("config.yaml"));
  EXPECT_EQ(c.at("model.rnn.impl"), "builtin");
  EXPECT_EQ(c.at("model.rnn.hidden"), "512");
  EXPECT_EQ(c.at("model.sizes"), "[1, 2]");
  EXPECT_EQ(c.at("run.name"), "null");
  EXPECT_EQ(c.size(), 4u);
  write_file(tmp.file("bad.yaml"), "a: [1, 2\n");
  try {
    rnnlab::flatten_config(tmp.file("bad.yaml"));
    FAIL() << "no error";
  } catch (const rnnlab::DataError& e) {
    EXPECT_NE(std::string(e.what()).find(tmp.file("bad.yaml")), std::string::npos) << e.what();
  }
}

TEST(Results, ReadCurveSkipsCutOffLinesAndOtherRecords) {
  TempDir tmp;
  make_run(tmp.path / "r", "custom", 1, 1.5);
  auto curve = rnnlab::read_curve(tmp.path / "r", "valid", "loss");
  ASSERT_EQ(curve.size(), 3u);
  EXPECT_EQ(curve[0].first, 100);
  EXPECT_NEAR(curve[0].second, 1.9, 1e-12);
  EXPECT_EQ(curve[2].first, 300);
  EXPECT_NEAR(curve[2].second, 1.5, 1e-12);
  EXPECT_EQ(rnnlab::read_curve(tmp.path / "r", "train", "loss").size(), 3u);
  EXPECT_TRUE(rnnlab::read_curve(tmp.path / "r", "valid", "nothing").empty());
  EXPECT_TRUE(rnnlab::read_curve(tmp.path / "absent", "valid", "loss").empty());
}

TEST(Results, ReadRunPlainAndParent) {
  TempDir tmp;
  make_parent(tmp.path / "rep", "custom", {1.44, 1.445, 1.4425});
  fs::create_directories(tmp.path / "rep" / "seed4");  // listed nowhere
  rnnlab::RunInfo p = rnnlab::read_run(tmp.path / "rep/");
  EXPECT_TRUE(p.parent);
  EXPECT_EQ(p.label, "rep");
  EXPECT_EQ(p.n(), 3);
  ASSERT_EQ(p.subruns.size(), 3u);
  EXPECT_EQ(p.subruns[1].label, "seed2");
  EXPECT_FALSE(p.subruns[1].parent);
  EXPECT_EQ(p.subruns[1].config.at("run.seed"), "2");
  EXPECT_NEAR(p.summary["val_loss_mean"].get<double>(), 1.4425, 1e-12);
  EXPECT_NEAR(p.summary["val_loss_std"].get<double>(), 0.0025, 1e-12);
  EXPECT_EQ(p.config.at("model.rnn.impl"), "custom");
  EXPECT_EQ(p.config.at("run.seed"), rnnlab::kVaries);
  // Each sub-run's cache lies in its own directory: the same once that is $RUN.
  EXPECT_EQ(p.subruns[0].config.at("data.cache"), "$RUN/cache");
  EXPECT_EQ(p.config.at("data.cache"), "$RUN/cache");
}

TEST(Results, ReadRunErrorsNameThePath) {
  TempDir tmp;
  auto message = [](const fs::path& dir) -> std::string {
    try {
      rnnlab::read_run(dir);
    } catch (const rnnlab::DataError& e) {
      return e.what();
    }
    return "no error";
  };
  std::string m = message(tmp.path / "absent");
  EXPECT_NE(m.find((tmp.path / "absent").string()), std::string::npos) << m;
  fs::create_directories(tmp.path / "running");
  m = message(tmp.path / "running");
  EXPECT_EQ(m, "'" + (tmp.path / "running").string() + "' is not a run directory (no config.yaml)");
  write_file(tmp.file("running/config.yaml"), "run:\n  seed: 1\n");
  m = message(tmp.path / "running");
  EXPECT_EQ(m, "run '" + (tmp.path / "running").string() + "' has no summary.json (not finished?)");
  fs::create_directories(tmp.path / "broken");
  write_file(tmp.file("broken/summary.json"), "{\"val_loss\": 1.");
  m = message(tmp.path / "broken");
  EXPECT_NE(m.find((tmp.path / "broken" / "summary.json").string()), std::string::npos) << m;
}

/// Three runs for the binary: two parents of 3 seeds that differ in
/// model.rnn.impl, and a plain run.
struct ReportTest : ::testing::Test {
  TempDir tmp;
  std::string custom, builtin, single;
  void SetUp() override {
    custom = (tmp.path / "custom").string();
    builtin = (tmp.path / "builtin").string();
    single = (tmp.path / "more" / "single").string();
    make_parent(custom, "custom", {1.44, 1.445, 1.4425});  // 1.4425 ± 0.0025
    make_parent(builtin, "builtin", {1.46, 1.47, 1.45});   // 1.4600 ± 0.0100
    make_run(single, "custom", 1, 1.5, 250);
  }
  rnnlab::test::CommandResult report(const std::string& args) {
    return run_command("cd " + sh(tmp.path.string()) + " && " + sh(kReport) + " " + args);
  }
  std::string runs() const { return sh(custom) + " " + sh(builtin); }
};

TEST_F(ReportTest, TextShowsMeanPlusMinusStdAndTheDifferingKey) {
  auto r = report(runs() + " --no-plot");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1.4425 ± 0.0025"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1.4600 ± 0.0100"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("differs"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("model.rnn.impl=builtin"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("model.rnn.impl=custom"), std::string::npos) << r.output;
  // Not differences: run.dir, run.name, the seeds (both vary) and the cache
  // path under each run's own directory.
  for (const char* same : {"run.dir", "run.name", "run.seed", "data.cache", "model.rnn.hidden"})
    EXPECT_EQ(r.output.find(same), std::string::npos) << same << "\n" << r.output;
  // Default keys: val_* first, then test_*, then the rest.
  size_t val = r.output.find("val_bpc"), test = r.output.find("test_loss"),
         steps = r.output.find("steps");
  EXPECT_LT(val, test);
  EXPECT_LT(test, steps);
  EXPECT_EQ(r.output.find("converged"), std::string::npos) << "a bool is not a metric";
  EXPECT_FALSE(fs::exists(tmp.path / "report.svg"));
}

TEST_F(ReportTest, AResumedRunIsReadWithItsRecordedOverrides) {
  // Two runs that trained the same 300 steps, one of them in two goes
  // (max_steps 100, then --resume --set train.max_steps=300): no difference.
  std::string once = (tmp.path / "once").string(), twice = (tmp.path / "twice").string();
  make_run(once, "custom", 1, 1.5);
  make_run(twice, "custom", 1, 1.5);
  for (const auto& run : {once, twice}) {
    std::string config = rnnlab::test::read_all(run + "/config.yaml");
    write_file(run + "/config.yaml",
               config + "train:\n  max_steps: " + (run == once ? "300" : "100") + "\n");
  }
  write_file(twice + "/resumed.yaml",
             "- {time: 2026-12-06 02:00:00, step: 100, set: [train.max_steps=200]}\n"
             "- {time: 2026-12-06 02:10:00, step: 200, set: [train.max_steps=300, "
             "run.progress=lines]}\n");
  auto r = report(sh(once) + " " + sh(twice) + " --keys val_loss --no-plot --format json");
  ASSERT_EQ(r.code, 0) << r.output;
  json j = json::parse(r.output);
  EXPECT_EQ(j[1]["differs"], json({{"run.progress", "lines"}})) << r.output;
  EXPECT_EQ(rnnlab::run_config(twice).at("train.max_steps"), "300");
  EXPECT_EQ(rnnlab::resumed_overrides(twice),
            std::vector<std::string>(
                {"train.max_steps=200", "train.max_steps=300", "run.progress=lines"}));
  // A resumed.yaml that is not a list of resumptions is named.
  write_file(twice + "/resumed.yaml", "set: 3\n");
  r = report(sh(once) + " " + sh(twice) + " --no-plot");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find(twice + "/resumed.yaml' is not a list of resumptions"), std::string::npos)
      << r.output;
}

TEST_F(ReportTest, AnAskedForCurveNoRunHasIsAUsageErrorBeforeAnyOutput) {
  auto r = report(runs() + " --metric val_foo");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_EQ(r.output,
            "error: --metric 'val_foo': no run has 'valid' records with 'foo' in its "
            "metrics.jsonl\n");
  EXPECT_FALSE(fs::exists(tmp.path / "report.svg"));
  // The default curve missing is only a warning (the table is the answer).
  fs::path novalid = tmp.path / "novalid";
  make_run(novalid, "custom", 1, 1.5);
  write_file((novalid / "metrics.jsonl").string(), "");
  r = report(sh(novalid.string()));
  EXPECT_EQ(r.code, 0) << r.output;
}

TEST_F(ReportTest, AValueWithALineBreakStaysOnItsRow) {
  std::string a = (tmp.path / "nl_a").string(), b = (tmp.path / "nl_b").string();
  make_run(a, "custom", 1, 1.5);
  make_run(b, "custom", 1, 1.5);
  write_file(b + "/config.yaml",
             rnnlab::test::read_all(b + "/config.yaml") + "sample:\n  prompt: \"two\\nlines\"\n");
  auto r = report(sh(a) + " " + sh(b) + " --keys val_loss --no-plot");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("sample.prompt=two\\nlines"), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 4) << r.output;
}

TEST_F(ReportTest, ADiffersCellShowsAFewKeysAndCountsTheRest) {
  // Runs of different apps differ in every key: the cell stays short.
  std::string other = (tmp.path / "other").string();
  make_run(other, "builtin", 1, 1.6);
  std::string many;
  for (int i = 0; i < 40; ++i)
    many += "  key" + std::to_string(100 + i) + ": " + std::string(30, 'v') + "\n";
  write_file(other + "/config.yaml", "run:\n  name: x\nextra:\n" + many);
  auto r = report(sh(single) + " " + sh(other) + " --keys val_loss --no-plot");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find(", ... (+"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("more keys; --format json lists them)"), std::string::npos) << r.output;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) EXPECT_LT(line.size(), 600u) << line;
  auto j = report(sh(single) + " " + sh(other) + " --keys val_loss --no-plot --format json");
  ASSERT_EQ(j.code, 0) << j.output;
  EXPECT_GT(json::parse(j.output)[1]["differs"].size(), 40u) << j.output;
}

TEST_F(ReportTest, NoDiffersColumnWithoutDifferencesAndPlainValues) {
  auto r = report(sh(single) + " --no-plot --keys val_loss,steps");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("differs"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1.5000"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("250"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("±"), std::string::npos) << r.output;
}

TEST_F(ReportTest, MarkdownTable) {
  auto r = report(runs() + " " + sh(single) + " --format md --keys val_loss --no-plot");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("| run | n | differs | val_loss |\n|---|---:|---|---:|\n"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("| custom | 3 | `model.rnn.impl=custom`, `run.seed=(varies)` | "
                          "1.4425 ± 0.0025 |"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("| single | 1 | `model.rnn.impl=custom`, `run.seed=1` | 1.5000 |"),
            std::string::npos)
      << r.output;
}

TEST_F(ReportTest, CsvHasNumericStdColumns) {
  auto r = report(runs() + " " + sh(single) + " --format csv --keys val_loss,steps --no-plot");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("run,n,differs,val_loss,val_loss_std,steps,steps_std\n", 0), 0u)
      << r.output;
  EXPECT_NE(r.output.find("\nbuiltin,3,\"model.rnn.impl=builtin, run.seed=(varies)\",1.46,0.01"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("\nsingle,1,\"model.rnn.impl=custom, run.seed=1\",1.5,,250,\n"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("±"), std::string::npos);
}

TEST_F(ReportTest, JsonIsAnArrayOfRows) {
  auto r = report(runs() + " " + sh(single) + " --format json --no-plot 2>/dev/null");
  ASSERT_EQ(r.code, 0) << r.output;
  json rows = json::parse(r.output);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["run"], "custom");
  EXPECT_EQ(rows[0]["n"], 3);
  EXPECT_NEAR(rows[0]["val_loss"].get<double>(), 1.4425, 1e-12);
  EXPECT_NEAR(rows[0]["val_loss_std"].get<double>(), 0.0025, 1e-12);
  EXPECT_NEAR(rows[1]["val_loss_min"].get<double>(), 1.45, 1e-12);
  EXPECT_EQ(rows[1]["differs"]["model.rnn.impl"], "builtin");
  EXPECT_EQ(rows[2]["steps"], 250);
  EXPECT_FALSE(rows[2].contains("steps_std"));
}

TEST_F(ReportTest, PublishedFiguresAreRowsInTheSameColumns) {
  // Given before and between the runs, the rows come after them, in order.
  auto r = report("--published " + sh("Paper A (2014): val_loss=1.41, steps=500") + " " + runs() +
                  " --published " + sh("Paper B: val_loss=1.39") +
                  " --format md --keys val_loss,steps --no-plot");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(
      r.output.find("| Paper A (2014) |  |  | 1.4100 | 500 |\n| Paper B |  |  | 1.3900 | - |\n"),
      std::string::npos)
      << r.output;
  EXPECT_LT(r.output.find("| builtin |"), r.output.find("| Paper A"));
  r = report(runs() + " --published " + sh("Paper A: val_loss=1.41") +
             " --format json --keys val_loss --no-plot");
  ASSERT_EQ(r.code, 0) << r.output;
  json rows = json::parse(r.output);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2]["run"], "Paper A");
  EXPECT_EQ(rows[2]["published"], true);
  EXPECT_DOUBLE_EQ(rows[2]["val_loss"].get<double>(), 1.41);
  EXPECT_FALSE(rows[2].contains("n"));
  // Malformed values and keys that are not columns: usage errors before any output.
  for (const auto& [arg, text] : std::vector<std::pair<std::string, std::string>>{
           {"val_loss=1.4", "no label or no key=value"},
           {": val_loss=1.4", "the label is empty"},
           {"A: val_loss", "no label or no key=value"},
           {"A: val_loss=low", "the value of 'val_loss' is not a number: 'low'"},
           {"A: val_loss=1.4x", "the value of 'val_loss' is not a number: '1.4x'"},
           {"A: val_loss=1.4, =2", "'=2' is not key=value"},
           {"A: test_accuracy=90",
            "'test_accuracy' is not a column of the table (columns: "
            "val_loss"}}) {
    auto e = report(runs() + " --published " + sh(arg) + " --keys val_loss --no-plot");
    EXPECT_EQ(e.code, 2) << arg << "\n" << e.output;
    EXPECT_NE(e.output.find("error: --published '" + arg + "': " + text), std::string::npos)
        << e.output;
    EXPECT_EQ(e.output.find("1.4425"), std::string::npos) << "no table before the error";
  }
}

TEST_F(ReportTest, CollidingLabelsGetMorePathComponents) {
  make_run(tmp.path / "other" / "single", "custom", 1, 1.6);
  auto r = report(sh(single) + " " + sh((tmp.path / "other" / "single").string()) +
                  " --format csv --keys val_loss --no-plot");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\nmore/single,1,"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\nother/single,1,"), std::string::npos) << r.output;
}

TEST_F(ReportTest, UnknownKeyIsAUsageError) {
  auto r = report(runs() + " --keys val_loss,val_accuracy --no-plot");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("error: unknown key 'val_accuracy'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("available: val_bpc, val_loss"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("1.4425"), std::string::npos) << "no table before the error";
}

TEST_F(ReportTest, BadOptionsAreUsageErrors) {
  EXPECT_EQ(report(runs() + " --format xml").code, 2);
  EXPECT_EQ(report(runs() + " --band wide").code, 2);
  EXPECT_EQ(report(runs() + " --plot a.svg --no-plot").code, 2);
  EXPECT_EQ(report(runs() + " --plot a.png").code, 2);
  EXPECT_EQ(report("").code, 2);
  auto help = report("--help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.output.find("--band"), std::string::npos);
}

TEST_F(ReportTest, MissingOrBrokenRunsAreDataErrorsNamingThePath) {
  fs::create_directories(tmp.path / "running");
  write_file(tmp.file("running/config.yaml"), "run:\n  seed: 1\n");
  auto r = report(runs() + " " + sh((tmp.path / "running").string()) + " --no-plot");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_EQ(r.output, "error: run '" + (tmp.path / "running").string() +
                          "' has no summary.json (not finished?)\n");
  r = report(sh((tmp.path / "absent").string()));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(
      r.output.find("error: run directory '" + (tmp.path / "absent").string() + "' does not exist"),
      std::string::npos)
      << r.output;
  write_file(tmp.file("builtin/summary.json"), "{\"runs\": [\"seed1\"");
  r = report(runs());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("error: '" + tmp.file("builtin/summary.json") + "' is not valid JSON"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << "one line: " << r.output;
}

TEST_F(ReportTest, WritesTheSvgNextToItsDataAndScript) {
  if (!have_gnuplot()) GTEST_SKIP() << "gnuplot is not installed";
  for (const char* band : {"minmax", "std", "lines"}) {
    fs::path svg = tmp.path / "plots dir" / (std::string("it's ") + band + ".svg");
    fs::create_directories(svg.parent_path());
    auto r = report(runs() + " " + sh(single) + " --format csv --band " + band + " --plot " +
                    sh(svg.string()));
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("wrote " + svg.string()), std::string::npos) << r.output;
    ASSERT_TRUE(fs::exists(svg)) << band;
    std::string text = rnnlab::test::read_all(svg.string());
    EXPECT_NE(text.find("<svg"), std::string::npos);
    EXPECT_NE(text.find("custom (n=3)"), std::string::npos) << band;
    EXPECT_NE(text.find("single (n=1)"), std::string::npos) << band;
    fs::path gp = svg, dat = svg;
    EXPECT_TRUE(fs::exists(gp.replace_extension(".gp")));
    EXPECT_TRUE(fs::exists(dat.replace_extension(".dat")));
  }
  // The default: report.svg in the current directory.
  auto r = report(runs() + " --metric val_bpc");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(tmp.path / "report.svg")) << r.output;
  // The loss axis says what the runs' summaries call their loss, where they
  // agree; "loss" where one says something else.
  r = report(runs() + " --metric val_loss --plot loss.svg");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(rnnlab::test::read_all(tmp.file("loss.gp"))
                .find("set ylabel 'validation cross-entropy (nats per token)'"),
            std::string::npos);
  json other = json::parse(rnnlab::test::read_all(single + "/summary.json"));
  other["loss_label"] = "cross-entropy (nats per image)";
  write_file(single + "/summary.json", other.dump());
  r = report(runs() + " " + sh(single) + " --metric val_loss --plot loss.svg");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(rnnlab::test::read_all(tmp.file("loss.gp")).find("set ylabel 'validation loss'"),
            std::string::npos);
  // A metric that no run logged: a usage error before any output, with or
  // without --plot.
  for (const char* plot : {" --plot x.svg", ""}) {
    r = report(runs() + " --metric val_accuracy" + plot);
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_EQ(r.output.rfind("error: --metric 'val_accuracy': no run has 'valid' records with "
                             "'accuracy'",
                             0),
              0u)
        << r.output;
  }
}
