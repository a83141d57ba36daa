// ConfigSchema: every config error class, overrides, includes and the resolved dump.
#include <gtest/gtest.h>

#include "apps/framework/config.h"
#include "apps/framework/sections.h"
#include "core/error.h"
#include "tests/support/support.h"

namespace rnnlab {
namespace {

using test::TempDir;
using test::write_file;

/// A config shaped like an app's: shared sections plus a few own keys.
struct DemoConfig {
  TrainSection train;
  OptimSection optim;
  RecurrentSection rnn;
  std::string data_train;
  int64_t batch = 32;
  std::vector<std::string> files;
  void bind(ConfigSchema& s) {
    s.add("data.train", &data_train, "training file").required();
    s.add("data.batch_size", &batch, "batch size").range(1, 4096);
    s.add("data.files", &files, "extra files");
    rnn.bind(s, "model.rnn");
    train.bind(s);
    optim.bind(s);
  }
};

/// Loads `yaml` (written to a temp file) plus overrides; returns the error message or "".
std::string load_error(const std::string& yaml, std::vector<std::string> sets = {},
                       std::string* path_out = nullptr) {
  static TempDir dir;
  std::string path = write_file(dir.file("exp.yaml"), yaml);
  if (path_out) *path_out = path;
  DemoConfig cfg;
  ConfigSchema s;
  cfg.bind(s);
  try {
    s.load_file(path);
    for (const auto& set : sets) s.apply_override(set);
    s.finalize();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  return "";
}

TEST(Config, DefaultsFileValuesAndTypes) {
  TempDir dir;
  std::string path = write_file(dir.file("a.yaml"),
                                "data:\n  train: x.txt\n  files: [a, b]\nmodel:\n  rnn:\n"
                                "    type: gru\n    hidden: 64\n    bidirectional: true\n"
                                "optim: {lr: 1.0e-3}\n");
  DemoConfig cfg;
  ConfigSchema s;
  cfg.bind(s);
  s.load_file(path);
  s.finalize();
  EXPECT_EQ(cfg.data_train, "x.txt");
  EXPECT_EQ(cfg.files, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(cfg.rnn.type, "gru");
  EXPECT_EQ(cfg.rnn.stack.hidden_size(), 64);
  EXPECT_TRUE(cfg.rnn.stack.bidirectional());
  EXPECT_DOUBLE_EQ(cfg.optim.lr, 1e-3);
  EXPECT_EQ(cfg.batch, 32);  // default kept
  EXPECT_EQ(s.find("model.rnn.hidden")->source, path + ":7");
  EXPECT_EQ(s.find("data.batch_size")->source, "default");
}

TEST(Config, UnknownKeyNamesFileLineAndClosestKey) {
  std::string path;
  std::string err = load_error("data:\n  train: x\nmodel:\n  rnn:\n    hiden: 5\n", {}, &path);
  EXPECT_EQ(err,
            "unknown key 'model.rnn.hiden' (" + path + ":5); did you mean 'model.rnn.hidden'?");
}

TEST(Config, UnknownKeyAtWrongLevelSuggestsTheRightOne) {
  std::string err = load_error("data:\n  train: x\nmodel:\n  hidden: 5\n");
  EXPECT_NE(err.find("unknown key 'model.hidden'"), std::string::npos) << err;
  EXPECT_NE(err.find("did you mean 'model.rnn.hidden'?"), std::string::npos) << err;
}

TEST(Config, UnknownKeyFarFromAnyListsTheSection) {
  std::string err = load_error("data:\n  train: x\noptim:\n  zzzzzzzzzz: 1\n");
  EXPECT_NE(err.find("unknown key 'optim.zzzzzzzzzz'"), std::string::npos) << err;
  EXPECT_NE(err.find("valid keys under 'optim': name, lr,"), std::string::npos) << err;
}

TEST(Config, UnknownSectionListsTheSectionsThatExist) {
  std::string err = load_error("data:\n  train: x\n", {"nosuch.zzzzzzzzzz=1"});
  EXPECT_NE(err.find("unknown key 'nosuch.zzzzzzzzzz' (--set)"), std::string::npos) << err;
  EXPECT_NE(err.find("; valid keys: data, model, train, optim"), std::string::npos) << err;
}

TEST(Config, AKeyGivenTwiceIsAnError) {
  std::string err = load_error("data:\n  train: x\n  batch_size: 8\n  batch_size: 16\n");
  EXPECT_NE(err.find("key 'data.batch_size' ("), std::string::npos) << err;
  EXPECT_NE(err.find("exp.yaml:4) is given twice (first at line 3)"), std::string::npos) << err;
  err = load_error("data:\n  train: x\ndata:\n  batch_size: 8\n");
  EXPECT_NE(err.find("key 'data' ("), std::string::npos) << err;
  EXPECT_NE(err.find("is given twice (first at line 1)"), std::string::npos) << err;
  // Found by fuzzing: an include list item that is a mapping escaped as a yaml-cpp exception.
  EXPECT_NE(load_error("include: [{a: 1}]\ndata:\n  train: x\n").find("key 'include' ("),
            std::string::npos);
  err = load_error("data:\n  train: x\n  ? [a, b]\n  : 3\n");
  EXPECT_NE(err.find("a key must be a plain name"), std::string::npos) << err;
}

TEST(Config, WrongTypeNamesKeyValueAndType) {
  std::string path;
  std::string err = load_error("data:\n  train: x\noptim:\n  lr: fast\n", {}, &path);
  EXPECT_EQ(err, "key 'optim.lr' (" + path + ":4): expected a number, got 'fast'");
  EXPECT_NE(
      load_error("data: {train: x, batch_size: 1.5}\n").find("expected an integer, got '1.5'"),
      std::string::npos);
  EXPECT_NE(load_error("data: {train: x}\nmodel: {rnn: {bidirectional: maybe}}\n")
                .find("expected a boolean (true/false), got 'maybe'"),
            std::string::npos);
  // Only YAML 1.2's booleans, the same in a file and in --set.
  for (const char* v : {"yes", "no", "on", "off", "1", "0", "y"}) {
    EXPECT_NE(
        load_error(std::string("data: {train: x}\nmodel: {rnn: {bidirectional: ") + v + "}}\n")
            .find("expected a boolean (true/false), got '" + std::string(v) + "'"),
        std::string::npos)
        << v;
    EXPECT_NE(load_error("data: {train: x}\n", {std::string("model.rnn.bidirectional=") + v})
                  .find("expected a boolean (true/false), got '" + std::string(v) + "'"),
              std::string::npos)
        << v;
  }
  EXPECT_NE(load_error("data: {train: [a, b]}\n").find("expected a string, got a list"),
            std::string::npos);
  EXPECT_NE(load_error("data: {train: x}\noptim: 3\n").find("expected a section of keys"),
            std::string::npos);
}

TEST(Config, OutOfRangeAndChoices) {
  std::string path;
  std::string err = load_error("data:\n  train: x\noptim:\n  lr: -1\n", {}, &path);
  EXPECT_EQ(err, "key 'optim.lr' (" + path + ":4): value -1 is out of range; allowed: > 0");
  err = load_error("data: {train: x, batch_size: 0}\n");
  EXPECT_NE(err.find("value 0 is out of range; allowed: 1 to 4096"), std::string::npos) << err;
  err = load_error("data: {train: x}\nmodel: {rnn: {type: transformer}}\n");
  EXPECT_NE(err.find("value 'transformer' is not allowed; allowed: lstm, gru, rnn"),
            std::string::npos)
      << err;
}

TEST(Config, MissingRequiredKey) {
  EXPECT_EQ(load_error("optim: {lr: 0.1}\n"), "missing required key 'data.train' (training file)");
}

TEST(Config, OverridesSetAnyKeyWithTheSameChecks) {
  TempDir dir;
  std::string path = write_file(dir.file("a.yaml"), "data: {train: x}\noptim: {lr: 0.1}\n");
  DemoConfig cfg;
  ConfigSchema s;
  cfg.bind(s);
  s.load_file(path);
  s.apply_override("optim.lr=0.5");
  s.apply_override("model.rnn.type=rnn");
  s.apply_override("data.files=[p, q, r]");
  s.apply_override("optim.lr=0.25");  // the last one wins
  s.finalize();
  EXPECT_DOUBLE_EQ(cfg.optim.lr, 0.25);
  EXPECT_EQ(cfg.rnn.type, "rnn");
  EXPECT_EQ(cfg.files.size(), 3u);
  EXPECT_EQ(s.find("optim.lr")->source, "--set");
  // "key=" is the empty string, so a string can be cleared from the command line.
  s.apply_override("data.train=");
  EXPECT_EQ(cfg.data_train, "");
  s.apply_override("data.train=x");

  EXPECT_EQ(load_error("data: {train: x}\n", {"optim.lrr=3"}),
            "unknown key 'optim.lrr' (--set); did you mean 'optim.lr'?");
  EXPECT_EQ(load_error("data: {train: x}\n", {"optim.lr=abc"}),
            "key 'optim.lr' (--set): expected a number, got 'abc'");
  EXPECT_EQ(load_error("data: {train: x}\n", {"optim.lr"}), "--set 'optim.lr': expected key=value");
  EXPECT_EQ(load_error("data: {train: x}\n", {"optim.lr=-2"}),
            "key 'optim.lr' (--set): value -2 is out of range; allowed: > 0");
  EXPECT_EQ(load_error("data: {train: x}\n", {"optim.lr="}),
            "key 'optim.lr' (--set): expected a number, got ''");
  // An override can mend a bad value from the file.
  EXPECT_EQ(load_error("data: {train: x}\noptim: {lr: -1}\n", {"optim.lr=0.1"}), "");
}

TEST(Config, IncludesAreMergedRelativeToTheFile) {
  TempDir dir;
  std::filesystem::create_directories(dir.path / "sub");
  write_file(dir.file("base.yaml"), "optim: {lr: 0.3, name: sgd}\ndata: {batch_size: 8}\n");
  std::string path = write_file(dir.file("sub/exp.yaml"),
                                "include: ../base.yaml\ndata: {train: t.txt}\noptim: {lr: 0.2}\n");
  DemoConfig cfg;
  ConfigSchema s;
  cfg.bind(s);
  s.load_file(path);
  s.finalize();
  EXPECT_DOUBLE_EQ(cfg.optim.lr, 0.2);  // the including file wins
  EXPECT_EQ(cfg.optim.name, "sgd");     // from the base
  EXPECT_EQ(cfg.batch, 8);

  write_file(dir.file("loop.yaml"), "include: loop.yaml\n");
  DemoConfig c2;
  ConfigSchema s2;
  c2.bind(s2);
  EXPECT_THROW(s2.load_file(dir.file("loop.yaml")), ConfigError);
  std::string err = load_error("include: nowhere.yaml\ndata: {train: x}\n");
  EXPECT_NE(err.find("nowhere.yaml' does not exist"), std::string::npos) << err;
}

TEST(Config, BadFiles) {
  std::string err = load_error("data:\n  train: [x\n");
  EXPECT_NE(err.find("YAML syntax error"), std::string::npos) << err;
  EXPECT_NE(err.find("exp.yaml:"), std::string::npos) << err;
  EXPECT_NE(load_error("").find("is empty"), std::string::npos);
  EXPECT_NE(load_error("- a\n- b\n").find("must be a mapping"), std::string::npos);
  DemoConfig cfg;
  ConfigSchema s;
  cfg.bind(s);
  try {
    s.load_file("/nonexistent/x.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "config file '/nonexistent/x.yaml' does not exist");
  }
  TempDir dir;
  try {
    s.load_file(dir.path.string());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "config file '" + dir.path.string() + "' is a directory, not a file");
  }
}

TEST(Config, ResolvedYamlLoadsBackToTheSameValues) {
  TempDir dir;
  std::string path = write_file(dir.file("a.yaml"),
                                "data: {train: 'a file: with colon.txt', files: [x, 'y z']}\n"
                                "model: {rnn: {hidden: 17, dropout: 0.25}}\n");
  DemoConfig a;
  ConfigSchema sa;
  a.bind(sa);
  sa.load_file(path);
  sa.finalize();
  std::string dumped = write_file(dir.file("dump.yaml"), sa.to_yaml());
  DemoConfig b;
  ConfigSchema sb;
  b.bind(sb);
  sb.load_file(dumped);
  sb.finalize();
  EXPECT_EQ(sa.to_yaml(), sb.to_yaml());
  EXPECT_EQ(b.data_train, "a file: with colon.txt");
  EXPECT_EQ(b.files, (std::vector<std::string>{"x", "y z"}));
  EXPECT_EQ(b.rnn.stack.hidden_size(), 17);
  EXPECT_DOUBLE_EQ(b.rnn.stack.dropout(), 0.25);
}

}  // namespace
}  // namespace rnnlab
