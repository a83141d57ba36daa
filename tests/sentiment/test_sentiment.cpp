// rnnlab-sentiment: the scores, the sub-runs of cross-validation, the data
// split and vocabulary, and the binary as a user runs it: it learns a planted
// task that needs word order ("not good"), cross-validation writes the mean
// and std of every fold and --resume skips finished folds, one seed gives one
// result, predict and eval read the run back, and bad configs and data give
// one-line errors before a run directory exists.
#include <gtest/gtest.h>

#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "apps/framework/torch_export.h"
#include "apps/sentiment/task.h"
#include "datasets/word_vectors.h"
#include "tests/support/support.h"

namespace fs = std::filesystem;

namespace rnnlab {
namespace {

using sentiment::Scores;
using sentiment::SentimentConfig;
using test::expect_one_line_error;
using test::read_all;
using test::run_command;
using test::TempDir;
using test::write_file;

const std::string kBin = std::string(RNNLAB_BINARY_DIR) + "/bin/rnnlab-sentiment";

// ---- scores ----

TEST(SentimentScore, AccuracyMacroF1AndConfusionByHand) {
  // gold    0 0 0 1 1 2
  // pred    0 0 1 1 0 1
  // confusion rows=gold: [2 1 0] [1 1 0] [0 1 0]
  Scores s = sentiment::score({0, 0, 0, 1, 1, 2}, {0, 0, 1, 1, 0, 1}, 3);
  EXPECT_EQ(s.confusion, (std::vector<std::vector<int64_t>>{{2, 1, 0}, {1, 1, 0}, {0, 1, 0}}));
  EXPECT_EQ(s.correct, 3);
  EXPECT_DOUBLE_EQ(s.accuracy, 50.0);
  // F1: class 0: 2*2/(4+1+1) = 2/3; class 1: 2*1/(2+2+1) = 2/5; class 2: 0.
  EXPECT_NEAR(s.macro_f1, 100.0 * (2.0 / 3 + 2.0 / 5 + 0) / 3, 1e-9);
}

TEST(SentimentScore, PerfectAndInverted) {
  Scores p = sentiment::score({0, 1, 1}, {0, 1, 1}, 2);
  EXPECT_DOUBLE_EQ(p.accuracy, 100.0);
  EXPECT_DOUBLE_EQ(p.macro_f1, 100.0);
  Scores q = sentiment::score({0, 1, 1}, {1, 0, 0}, 2);
  EXPECT_DOUBLE_EQ(q.accuracy, 0.0);
  EXPECT_DOUBLE_EQ(q.macro_f1, 0.0);
}

// ---- sub-runs ----

TEST(SentimentSubruns, FoldsSeedsAndBoth) {
  SentimentConfig cfg;
  EXPECT_TRUE(sentiment::sentiment_subruns(cfg).empty());
  cfg.data.folds = 3;
  auto folds = sentiment::sentiment_subruns(cfg);
  ASSERT_EQ(folds.size(), 3u);
  EXPECT_EQ(folds[0].name, "fold01");
  EXPECT_EQ(folds[2].sets, std::vector<std::string>{"data.fold=3"});
  cfg.run.repeats = 2;
  cfg.run.seed = 5;
  auto both = sentiment::sentiment_subruns(cfg);
  ASSERT_EQ(both.size(), 6u);
  EXPECT_EQ(both[1].name, "fold01-seed6");
  EXPECT_EQ(both[1].sets, (std::vector<std::string>{"data.fold=1", "run.seed=6", "run.repeats=1"}));
  cfg.data.fold = 2;  // one fold: only its seeds
  EXPECT_EQ(sentiment::sentiment_subruns(cfg).size(), 2u);
}

// ---- a planted task ----

// Sentences of neutral words around one sentiment word; "not" just before it
// flips the label in a third of them, so a bag of words cannot solve it.
struct Planted {
  std::string pos, neg;  // one text per line
};
Planted planted(int n, unsigned seed) {
  static const char* good[] = {"good", "great", "fine", "superb", "lovely", "fun"};
  static const char* bad[] = {"bad", "awful", "dull", "boring", "weak", "poor"};
  static const char* neutral[] = {"the",  "film", "was",    "a",     "story", "movie",
                                  "plot", "it",   "really", "quite", "this",  "of"};
  Planted p;
  unsigned x = seed;
  auto next = [&x] {
    x = x * 1103515245u + 12345u;
    return (x >> 16) & 0x7FFF;
  };
  for (int i = 0; i < n; ++i) {
    bool positive_word = next() % 2;
    bool negated = next() % 3 == 0;
    int before = 1 + static_cast<int>(next() % 4), after = static_cast<int>(next() % 4);
    std::string line;
    for (int j = 0; j < before; ++j) line += std::string(neutral[next() % 12]) + " ";
    if (negated) line += "not ";
    line += positive_word ? good[next() % 6] : bad[next() % 6];
    for (int j = 0; j < after; ++j) line += " " + std::string(neutral[next() % 12]);
    line += next() % 2 ? " ." : " !";
    (positive_word != negated ? p.pos : p.neg) += line + "\n";
  }
  return p;
}

/// Writes the planted data and a config into `dir`; returns the config path.
std::string planted_config(const TempDir& dir, const std::string& extra = "", int n = 800) {
  Planted p = planted(n, 7);
  write_file(dir.file("pos.txt"), p.pos);
  write_file(dir.file("neg.txt"), p.neg);
  return write_file(dir.file("planted.yaml"),
                    "run:\n  data_root: " + dir.path.string() + "\n  dir: " + dir.file("runs") +
                        "\n  progress: lines\n"
                        "data:\n  class_files: [neg=neg.txt, pos=pos.txt]\n"
                        "  batch_size: 20\n"
                        "model:\n  embedding_dim: 16\n  dropout: 0.1\n"
                        "  rnn:\n    type: gru\n    hidden: 24\n    bidirectional: true\n"
                        "train:\n  max_epochs: 12\n  patience: 0\n  log_every: 1000\n"
                        "optim:\n  lr: 0.01\n" +
                        extra);
}

/// The planted texts as a TSV table: a header "label<TAB>text", then one row
/// per text.
std::string planted_table(const Planted& p) {
  std::string table = "label\ttext\n";
  std::istringstream pos(p.pos), neg(p.neg);
  for (std::string line; std::getline(pos, line);) table += "pos\t" + line + "\n";
  for (std::string line; std::getline(neg, line);) table += "neg\t" + line + "\n";
  return table;
}

nlohmann::json summary_of(const std::string& run_dir) {
  return nlohmann::json::parse(read_all(run_dir + "/summary.json"));
}

TEST(SentimentTrain, LearnsAPlantedTaskThatNeedsWordOrder) {
  TempDir dir;
  std::string cfg = planted_config(dir);
  std::string run = dir.file("run");
  auto r = run_command(kBin + " train " + cfg + " --run-dir " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  auto s = summary_of(run);
  EXPECT_GT(s["test_accuracy"].get<double>(), 95.0) << s.dump(1);
  EXPECT_GT(s["test_macro_f1"].get<double>(), 95.0);
  EXPECT_EQ(s["dev_accuracy"], s["val_accuracy"]);
  EXPECT_EQ(s["labels"], (nlohmann::json{"neg", "pos"}));
  EXPECT_EQ(s["loss_label"], "cross-entropy (nats per text)");
  // The confusion matrix adds up to the test part.
  int64_t total = 0;
  for (const auto& row : s["test_confusion"])
    for (const auto& v : row) total += v.get<int64_t>();
  EXPECT_EQ(total, s["test_sentences"].get<int64_t>());
  EXPECT_EQ(s["train_sentences"].get<int64_t>() + s["dev_sentences"].get<int64_t>() +
                s["test_sentences"].get<int64_t>(),
            800);
  EXPECT_TRUE(fs::exists(run + "/labels.json"));
  EXPECT_TRUE(fs::exists(run + "/tokenizer"));

  // predict: one line per input line, in order; an empty line stays empty.
  write_file(dir.file("in.txt"),
             "the film was not good !\n\nit was really great .\nnot dull\n###\n");
  auto p =
      run_command(kBin + " predict --run " + run + " < " + dir.file("in.txt") + " 2>/dev/null");
  ASSERT_EQ(p.code, 0) << p.output;
  std::vector<std::string> lines;
  std::istringstream in(p.output);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 5u) << p.output;
  EXPECT_EQ(lines[0].rfind("neg\t", 0), 0u) << p.output;
  EXPECT_EQ(lines[1], "");
  EXPECT_EQ(lines[2].rfind("pos\t", 0), 0u) << p.output;
  EXPECT_EQ(lines[3].rfind("pos\t", 0), 0u) << p.output;
  EXPECT_NE(lines[4], "") << "symbols only (no word after cleaning) still get a label";
  double prob = std::stod(lines[2].substr(4));
  EXPECT_GT(prob, 0.5);
  EXPECT_LE(prob, 1.0);

  // eval on fresh data from the same process, as class files and as a table.
  Planted fresh = planted(200, 99);
  write_file(dir.file("fresh_pos.txt"), fresh.pos);
  write_file(dir.file("fresh_neg.txt"), fresh.neg);
  auto e = run_command(kBin + " eval --run " + run + " --class pos=" + dir.file("fresh_pos.txt") +
                       " --class neg=" + dir.file("fresh_neg.txt") + " 2>/dev/null");
  ASSERT_EQ(e.code, 0) << e.output;
  EXPECT_NE(e.output.find("200 sentences"), std::string::npos) << e.output;
  EXPECT_NE(e.output.find("macro-F1"), std::string::npos) << e.output;
  EXPECT_NE(e.output.find("confusion matrix"), std::string::npos) << e.output;
  double acc = std::stod(e.output.substr(e.output.find("accuracy ") + 9));
  EXPECT_GT(acc, 90.0) << e.output;

  std::string table = "sentence\tlabel\n";
  std::istringstream pos(fresh.pos), neg(fresh.neg);
  for (std::string line; std::getline(pos, line);) table += line + "\tpos\n";
  for (std::string line; std::getline(neg, line);) table += line + "\tneg\n";
  write_file(dir.file("fresh.tsv"), table);
  auto t = run_command(kBin + " eval --run " + run + " --data " + dir.file("fresh.tsv") +
                       " 2>/dev/null");
  ASSERT_EQ(t.code, 0) << t.output;
  EXPECT_NE(t.output.find(e.output.substr(e.output.find("accuracy"))), std::string::npos)
      << "the table and the class files are the same data:\n"
      << t.output << "\n"
      << e.output;

  // An unknown label in the evaluated file, and --explain without attention.
  write_file(dir.file("bad.tsv"), "sentence\tlabel\ngood film\tpos\nmeh\tneutral\n");
  expect_one_line_error(run_command(kBin + " eval --run " + run + " --data " + dir.file("bad.tsv")),
                        1, "bad.tsv:3");
  expect_one_line_error(run_command(kBin + " predict --run " + run + " --explain good 2>&1"), 2,
                        "attention");
  // Invalid UTF-8 on stdin or in a text argument names where it is.
  write_file(dir.file("latin1.txt"), "good\ncaf\xe9\n");
  expect_one_line_error(
      run_command(kBin + " predict --run " + run + " < " + dir.file("latin1.txt")), 1,
      "<stdin>:2: invalid UTF-8 byte 0xe9 at column 4");
  expect_one_line_error(
      run_command(kBin + " predict --run " + run + " good \"$(printf 'caf\\351')\""), 1,
      "text argument 2:1: invalid UTF-8 byte 0xe9 at column 4");
  // A labels.json with one class (or a repeated one) is the run's data error.
  fs::copy(run, dir.file("one_label"), fs::copy_options::recursive);
  for (const char* labels : {"[\"pos\"]", "[\"pos\", \"pos\"]", "[\"pos\", \"\"]"}) {
    write_file(dir.file("one_label/labels.json"), labels);
    expect_one_line_error(run_command(kBin + " predict --run " + dir.file("one_label") + " good"),
                          1, "labels.json: needs two or more distinct, non-empty label names");
  }
  write_file(dir.file("one_label/labels.json"), "[\"pos\", ");
  auto bad_json = run_command(kBin + " predict --run " + dir.file("one_label") + " good");
  expect_one_line_error(bad_json, 1, "labels.json: not a JSON list of label names (line 1");
  EXPECT_EQ(bad_json.output.find("json.exception"), std::string::npos) << bad_json.output;
}

// Long-document reading (BPT3C) learns the planted task: chunks of 3 tokens,
// gradient through the last 2, concat pooling; the test part from its own
// class files (IMDb's layout), scored as test_accuracy.
TEST(SentimentTrain, ChunkedReadingLearnsAndTestClassFilesAreTheTestPart) {
  TempDir dir;
  std::string cfg = planted_config(dir);
  Planted test = planted(200, 99);
  write_file(dir.file("test_pos.txt"), test.pos);
  write_file(dir.file("test_neg.txt"), test.neg);
  std::string run = dir.file("run");
  auto r = run_command(kBin + " train " + cfg + " --run-dir " + run +
                       " --set model.rnn.bidirectional=false --set model.chunk=3"
                       " --set model.grad_chunks=2 --set model.pooling=concat"
                       " --set data.test_class_files=[pos=test_pos.txt,neg=test_neg.txt]");
  ASSERT_EQ(r.code, 0) << r.output;
  auto s = summary_of(run);
  EXPECT_EQ(s["test_sentences"].get<int64_t>(), 200);
  EXPECT_EQ(s["train_sentences"].get<int64_t>() + s["dev_sentences"].get<int64_t>(), 800);
  EXPECT_GT(s["test_accuracy"].get<double>(), 90.0) << s.dump(1);
  // eval of the run on the same files gives the summary's accuracy.
  auto e = run_command(kBin + " eval --run " + run + " --class pos=" + dir.file("test_pos.txt") +
                       " --class neg=" + dir.file("test_neg.txt") + " 2>/dev/null");
  ASSERT_EQ(e.code, 0) << e.output;
  EXPECT_NE(e.output.find(fmt::format("accuracy {:.2f}", s["test_accuracy"].get<double>())),
            std::string::npos)
      << e.output << s.dump(1);
}

TEST(SentimentTrain, AttentionExplainsEachWord) {
  TempDir dir;
  std::string cfg = planted_config(dir, "", 400);
  std::string run = dir.file("run");
  auto r = run_command(kBin + " train " + cfg + " --run-dir " + run +
                       " --set model.pooling=attention --set train.max_epochs=4");
  ASSERT_EQ(r.code, 0) << r.output;
  auto p = run_command(kBin + " predict --run " + run +
                       " --explain 'the film was not good' 2>/dev/null");
  ASSERT_EQ(p.code, 0) << p.output;
  // label, probability, then word:weight for the five words, weights summing to 1.
  std::vector<std::string> fields;
  std::istringstream in(p.output.substr(0, p.output.find('\n')));
  for (std::string f; std::getline(in, f, '\t');) fields.push_back(f);
  ASSERT_EQ(fields.size(), 3u) << p.output;
  std::istringstream words(fields[2]);
  double sum = 0;
  int n = 0;
  for (std::string w; words >> w; ++n) sum += std::stod(w.substr(w.rfind(':') + 1));
  EXPECT_EQ(n, 5) << p.output;
  EXPECT_NEAR(sum, 1.0, 0.01) << p.output;
  EXPECT_EQ(fields[2].rfind("the:", 0), 0u) << p.output;
}

TEST(SentimentTrain, ExportsForPythonAndInitialisesFromIt) {
  TempDir dir;
  std::string cfg = planted_config(dir, "", 200);
  std::string run = dir.file("run");
  auto r = run_command(kBin + " train " + cfg + " --run-dir " + run +
                       " --set model.pooling=attention --set train.max_steps=3");
  ASSERT_EQ(r.code, 0) << r.output;
  std::string out = dir.file("clf.pt");
  r = run_command(kBin + " export --run " + run + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  std::string json = test::expect_python_loads_export(out);
  for (const char* s :
       {"\"labels\"", "\"attention_proj\"", "\"encoder\"", "\"pooling\": \"attention\""})
    EXPECT_NE(json.find(s), std::string::npos) << s << "\n" << json;
  EXPECT_EQ(json.find("fixed_vectors"), std::string::npos);
  // The file initialises a new run; every tensor of the same model is read.
  std::string run2 = dir.file("run2");
  r = run_command(kBin + " train " + cfg + " --run-dir " + run2 +
                  " --set model.pooling=attention --set train.max_steps=1"
                  " --set model.init_from_pytorch=" +
                  out);
  ASSERT_EQ(r.code, 0) << r.output;
  std::string log = read_all(run2 + "/log.txt");
  EXPECT_NE(log.find("model.init_from_pytorch: "), std::string::npos) << log;
  EXPECT_NE(log.find(" tensors read from '" + out + "'\n"), std::string::npos) << log;
  // Max pooling has no attention: the file's attention_proj is not the model's.
  expect_one_line_error(
      run_command(kBin + " train " + cfg + " --run-dir " + dir.file("run3") +
                  " --set model.pooling=max --set model.init_from_pytorch=" + out),
      1, "'attention_proj.weight' is not a parameter of this model");
}

/// A word-level GRU language model (embedding 16, hidden 24) trained for 20
/// updates on unlabelled planted text into DIR/lm (`sets`: more --set
/// arguments); its run directory.
std::string train_small_lm(const TempDir& dir, const std::string& sets = "") {
  Planted text = planted(400, 9);
  write_file(dir.file("lm.txt"), text.pos + text.neg);
  std::string lm_cfg = write_file(
      dir.file("lm.yaml"), "data:\n  train: " + dir.file("lm.txt") +
                               "\n  tokenizer:\n    type: word\n  batch_size: 4\n  bptt: 16\n"
                               "model:\n  embedding: 16\n  rnn:\n    type: gru\n    hidden: 24\n"
                               "train:\n  max_steps: 20\n  eval_every: 10\nsample:\n  length: 0\n"
                               "run:\n  progress: lines\n");
  std::string lm = dir.file("lm");
  auto r = run_command(test::kLm + " train " + lm_cfg + " --run-dir " + lm + sets);
  EXPECT_EQ(r.code, 0) << r.output;
  return lm;
}

TEST(SentimentTrain, StartsFromALanguageModelRun) {
  TempDir dir;
  std::string cfg = planted_config(dir, "", 200);
  // A word-level GRU language model on unlabelled text of the same kind.
  std::string lm = train_small_lm(dir);
  ASSERT_FALSE(HasFailure());
  test::CommandResult r;

  const std::string from = " --set model.init_from=" + lm + " --set model.rnn.bidirectional=false";
  std::string run = dir.file("run");
  r = run_command(kBin + " train " + cfg + " --run-dir " + run + from +
                  " --set train.max_steps=1 --set optim.lr=1e-9 --set model.dropout=0");
  ASSERT_EQ(r.code, 0) << r.output;
  std::string log = read_all(run + "/log.txt");
  EXPECT_NE(log.find("model.init_from: the tokenizer (vocabulary "), std::string::npos) << log;
  EXPECT_NE(log.find("1-layer gru encoder of the language model " + lm + " (checkpoint_best.pt)"),
            std::string::npos)
      << log;
  // The classifier's tokenizer, embedding and encoder are the LM's (one
  // update at learning rate 1e-9 later).
  EXPECT_EQ(read_all(run + "/tokenizer/vocab.json"), read_all(lm + "/tokenizer/vocab.json"));
  ASSERT_EQ(run_command(test::kLm + " export --run " + lm + " --out " + dir.file("lm.pt")).code, 0);
  ASSERT_EQ(run_command(kBin + " export --run " + run + " --out " + dir.file("clf.pt")).code, 0);
  std::map<std::string, torch::Tensor> a, b;
  for (auto& [k, v] : read_state_dict(dir.file("lm.pt"))) a[k] = v;
  for (auto& [k, v] : read_state_dict(dir.file("clf.pt"))) b[k] = v;
  EXPECT_TRUE(torch::allclose(a.at("embedding.weight"), b.at("embedding.weight"), 0, 1e-6));
  for (const char* w : {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"})
    EXPECT_TRUE(
        torch::allclose(a.at(std::string("rnn.") + w), b.at(std::string("encoder.") + w), 0, 1e-6))
        << w;

  // What cannot start from that LM: config errors naming the key, before any run directory.
  std::string cmd = kBin + " train " + cfg + " --run-dir " + dir.file("bad") + from;
  expect_one_line_error(
      run_command(cmd + " --set model.rnn.hidden=32"), 2,
      "key 'model.rnn.hidden': 32 here, 24 in model.init_from's language model '" + lm +
          "'; they must match");
  expect_one_line_error(run_command(cmd + " --set model.rnn.type=lstm"), 2,
                        "key 'model.rnn.type': lstm here, gru in model.init_from's");
  expect_one_line_error(run_command(cmd + " --set model.embedding_dim=8"), 2,
                        "key 'model.embedding_dim': 8 here, 16");
  expect_one_line_error(run_command(cmd + " --set model.rnn.bidirectional=true"), 2,
                        "key 'model.rnn.bidirectional'");
  expect_one_line_error(
      run_command(kBin + " train " + cfg + " --run-dir " + dir.file("bad") +
                  " --set model.rnn.bidirectional=false --set model.init_from=" + run),
      2, "is a rnnlab-sentiment run, not a rnnlab-lm one");
  EXPECT_FALSE(std::filesystem::exists(dir.file("bad")));
}

// ULMFiT's target-task LM fine-tuning (model.lm_finetune): the language model
// trains on the run's training part (the dev part its validation; never the
// test part) in RUN/lm, and the classifier starts from that run.
TEST(SentimentTrain, FineTunesTheLanguageModelOnTheTrainingPartFirst) {
  TempDir dir;
  std::string cfg = planted_config(dir, "", 200);
  // A language model that started from word vectors: its fine-tuning starts
  // from its weights, not from the vectors again.
  datasets::write_word2vec(datasets::make_word_vectors({"zz"}, torch::ones({1, 16})),
                           dir.file("vec.txt"), false);
  std::string lm = train_small_lm(dir, " --set model.vectors=" + dir.file("vec.txt"));
  ASSERT_FALSE(HasFailure());
  test::CommandResult r;
  const std::string from = " --set model.init_from=" + lm +
                           " --set model.rnn.bidirectional=false --set model.dropout=0"
                           " --set train.max_steps=1 --set optim.lr=1e-9";
  const std::string run = dir.file("run");
  r = run_command(kBin + " train " + cfg + " --run-dir " + run + from +
                  " --set model.lm_finetune.epochs=2 --set model.lm_finetune.set=[optim.lr=0.005]");
  ASSERT_EQ(r.code, 0) << r.output;
  auto s = summary_of(run);
  // The LM's text: the training part's texts, one per line; its validation: the dev part's.
  auto lines = [](const std::string& file) {
    std::string t = read_all(file);
    return static_cast<int64_t>(std::count(t.begin(), t.end(), '\n'));
  };
  EXPECT_EQ(lines(run + "/lm_train.txt"), s["train_sentences"].get<int64_t>());
  EXPECT_EQ(lines(run + "/lm_valid.txt"), s["dev_sentences"].get<int64_t>());
  auto lm_summary = summary_of(run + "/lm");
  EXPECT_EQ(lm_summary["epochs"], 2);
  // The LM's validation perplexity before and after, in the summary: the
  // fine-tuning on this text lowered it.
  EXPECT_EQ(s["lm_val_ppl"], lm_summary["val_ppl"]);
  ASSERT_TRUE(s.contains("lm_start_val_ppl")) << s.dump(1);
  EXPECT_LT(s["lm_val_ppl"].get<double>(), s["lm_start_val_ppl"].get<double>());
  const std::string lm_config = read_all(run + "/lm/config.yaml");
  EXPECT_EQ(lm_config.rfind("# rnnlab-lm run\n", 0), 0u) << lm_config;
  EXPECT_NE(lm_config.find("lr: 0.005"), std::string::npos) << lm_config;
  EXPECT_NE(read_all(run + "/log.txt").find("model.init_from: the tokenizer (vocabulary "),
            std::string::npos);
  // The classifier's embedding and encoder are the fine-tuned LM's (one
  // update at 1e-9 later), no longer the LM it started from.
  for (const char* name : {"lm", "run/lm", "run"})
    ASSERT_EQ(run_command(
                  (std::string(name) == "run" ? kBin : test::kLm) + " export --run " +
                  dir.file(name) + " --out " +
                  dir.file(std::string(name) == "run/lm" ? "tuned.pt" : std::string(name) + ".pt"))
                  .code,
              0)
        << name;
  std::map<std::string, torch::Tensor> before, tuned, clf;
  for (auto& [k, v] : read_state_dict(dir.file("lm.pt"))) before[k] = v;
  for (auto& [k, v] : read_state_dict(dir.file("tuned.pt"))) tuned[k] = v;
  for (auto& [k, v] : read_state_dict(dir.file("run.pt"))) clf[k] = v;
  EXPECT_TRUE(torch::allclose(tuned.at("embedding.weight"), clf.at("embedding.weight"), 0, 1e-6));
  EXPECT_TRUE(
      torch::allclose(tuned.at("rnn.weight_hh_l0"), clf.at("encoder.weight_hh_l0"), 0, 1e-6));
  EXPECT_FALSE(
      torch::allclose(before.at("rnn.weight_hh_l0"), clf.at("encoder.weight_hh_l0"), 0, 1e-4));

  // Stopped after the LM stage (the classifier had no checkpoint yet): the
  // resumed run keeps RUN/lm and trains the classifier as the first did.
  for (const char* f : {"checkpoint_best.pt", "checkpoint_best.pt.yml", "checkpoint_last.pt",
                        "checkpoint_last.pt.yml", "summary.json", "metrics.jsonl"})
    fs::remove(run + "/" + f);
  const auto lm_mtime = fs::last_write_time(run + "/lm/checkpoint_best.pt");
  r = run_command(kBin + " train --resume " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(fs::last_write_time(run + "/lm/checkpoint_best.pt"), lm_mtime);
  auto again = summary_of(run);
  for (const char* key :
       {"val_loss", "test_loss", "test_accuracy", "lm_val_ppl", "lm_start_val_ppl"})
    EXPECT_EQ(again[key], s[key]) << key;

  // So does a fold of a cross-validation: each fold fine-tunes on its own
  // training part, and one stopped after its stage keeps FOLD/lm.
  const std::string cv = dir.file("cv");
  r = run_command(kBin + " train " + cfg + " --run-dir " + cv + from +
                  " --set data.folds=2 --set model.lm_finetune.epochs=1");
  ASSERT_EQ(r.code, 0) << r.output;
  auto fold2 = summary_of(cv + "/fold02");
  EXPECT_NE(read_all(cv + "/fold01/lm_train.txt"), read_all(cv + "/fold02/lm_train.txt"));
  for (const char* f : {"checkpoint_best.pt", "checkpoint_best.pt.yml", "checkpoint_last.pt",
                        "checkpoint_last.pt.yml", "summary.json"})
    fs::remove(cv + "/fold02/" + f);
  const auto fold_lm_mtime = fs::last_write_time(cv + "/fold02/lm/checkpoint_best.pt");
  r = run_command(kBin + " train --resume " + cv);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("fold02 2/2: no checkpoint yet, training it from the start"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(fs::last_write_time(cv + "/fold02/lm/checkpoint_best.pt"), fold_lm_mtime);
  auto fold2_again = summary_of(cv + "/fold02");
  for (const char* key : {"val_loss", "test_loss", "test_accuracy", "lm_val_ppl"})
    EXPECT_EQ(fold2_again[key], fold2[key]) << key;
  EXPECT_EQ(summary_of(cv)["runs_finished"], 2);

  // Config errors before any directory: no language model to fine-tune, a
  // bad key of the LM's config.
  const std::string bad = dir.file("bad");
  expect_one_line_error(
      run_command(kBin + " train " + cfg + " --run-dir " + bad +
                  " --set model.lm_finetune.epochs=1"),
      2,
      "key 'model.lm_finetune.epochs' (--set): fine-tunes model.init_from's language "
      "model, which is not set");
  expect_one_line_error(run_command(kBin + " train " + cfg + " --run-dir " + bad + from +
                                    " --set model.lm_finetune.epochs=1 --set "
                                    "model.lm_finetune.set=[optim.lrr=1]"),
                        2,
                        "key 'model.lm_finetune.set' (--set): the language model's config: "
                        "unknown key 'optim.lrr'");
  expect_one_line_error(
      run_command(kBin + " train " + cfg + " --run-dir " + bad + from +
                  " --set model.lm_finetune.set=[optim.lr=1]"),
      2, "key 'model.lm_finetune.set' (--set): sets keys of the language-model fine-tuning");
  EXPECT_FALSE(fs::exists(bad));
}

TEST(SentimentTrain, SameSeedSameRunOtherSeedOtherRun) {
  TempDir dir;
  std::string cfg = planted_config(dir, "", 300);
  auto train = [&](const std::string& name, const std::string& sets) {
    auto r = run_command(kBin + " train " + cfg + " --run-dir " + dir.file(name) +
                         " --set train.max_epochs=2 " + sets);
    EXPECT_EQ(r.code, 0) << r.output;
    return summary_of(dir.file(name));
  };
  auto a = train("a", ""), b = train("b", ""), c = train("c", "--set run.seed=2");
  EXPECT_EQ(a["val_loss"], b["val_loss"]);
  EXPECT_EQ(a["test_loss"], b["test_loss"]);
  EXPECT_NE(a["val_loss"], c["val_loss"]);
  // The split does not follow run.seed (data.split_seed fixes it).
  EXPECT_EQ(a["test_sentences"], c["test_sentences"]);
}

TEST(SentimentTrain, SigtermThenResumeEndsLikeAnUnstoppedRun) {
  TempDir dir;
  std::string cfg = planted_config(dir, "", 1600);
  std::string cmd = kBin + " train " + cfg + " --set train.max_epochs=6";
  std::string straight = dir.file("straight");
  ASSERT_EQ(run_command(cmd + " --run-dir " + straight).code, 0);
  std::string run = dir.file("stopped");
  auto r = run_command("(" + cmd + " --run-dir " + run + " & pid=$!; while [ ! -f " + run +
                       "/checkpoint_last.pt ]; do sleep 0.01; done; sleep 0.2; kill -TERM $pid; "
                       "wait $pid; echo exit=$?)");
  ASSERT_NE(r.output.find("exit=143"), std::string::npos) << r.output;
  ASSERT_FALSE(fs::exists(run + "/summary.json")) << "the run ended before the signal";
  r = run_command(kBin + " train --resume " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  auto a = summary_of(straight), b = summary_of(run);
  for (const char* key : {"val_loss", "test_loss", "test_accuracy", "best_step", "steps"})
    EXPECT_EQ(a[key], b[key]) << key;
  // Finished by max_epochs: resumed again, it trains no further epoch.
  test::expect_complete_run_unchanged_by_resume(kBin, run);
}

TEST(SentimentTrain, TwoProcessesTrainLikeOneWithTheSameGlobalBatch) {
  TempDir dir;
  // Without dropout (each rank draws its own masks). Batches of 20 sentences
  // of similar length, dealt out to the 2 ranks by tokens.
  std::string cmd = kBin + " train " + planted_config(dir, "", 300) +
                    " --set model.dropout=0 --set train.max_epochs=2 --set train.log_every=1"
                    " --set run.threads=1";
  test::train_on_one_and_two(cmd, dir.path / "one", dir.path / "two");
  test::expect_same_training(dir.path / "one", dir.path / "two", 0, 1e-5);
  auto a = summary_of(dir.file("one")), b = summary_of(dir.file("two"));
  EXPECT_EQ(a["val_accuracy"], b["val_accuracy"]);
  EXPECT_EQ(a["test_accuracy"], b["test_accuracy"]);
}

TEST(SentimentTrain, CrossValidationAggregatesFoldsAndResumeSkipsFinishedOnes) {
  TempDir dir;
  std::string cfg = planted_config(dir, "", 300);
  std::string run = dir.file("cv");
  auto r = run_command(kBin + " train " + cfg + " --run-dir " + run +
                       " --set data.folds=3 --set train.max_epochs=2");
  ASSERT_EQ(r.code, 0) << r.output;
  auto s = summary_of(run);
  EXPECT_EQ(s["runs"], (nlohmann::json{"fold01", "fold02", "fold03"}));
  EXPECT_EQ(s["runs_finished"], 3);
  for (const char* key : {"test_accuracy_mean", "test_accuracy_std", "test_macro_f1_mean",
                          "dev_accuracy_mean", "val_accuracy_max"})
    EXPECT_TRUE(s.contains(key)) << key << " missing: " << s.dump(1);
  // Each test fold is a third of the data (stratified: each class dealt out
  // in turn, so a fold may have one more or less), together all of it.
  int64_t tested = 0;
  for (const char* f : {"fold01", "fold02", "fold03"}) {
    auto fs_ = summary_of(run + "/" + f);
    EXPECT_NEAR(fs_["test_sentences"].get<int64_t>(), 100, 1) << f;
    tested += fs_["test_sentences"].get<int64_t>();
    EXPECT_NE(read_all(run + "/" + f + "/config.yaml").find(std::string("fold: ") + f[5]),
              std::string::npos)
        << f;
  }
  EXPECT_EQ(tested, 300);

  // Resume with fold 3 unfinished: folds 1 and 2 are skipped, 3 is redone.
  fs::remove(run + "/fold03/summary.json");
  fs::remove(run + "/fold03/checkpoint_last.pt");
  fs::remove(run + "/fold03/checkpoint_best.pt");
  auto again = run_command(kBin + " train --resume " + run);
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_NE(again.output.find("fold01 1/3: finished before, skipped"), std::string::npos)
      << again.output;
  EXPECT_NE(again.output.find("fold03 3/3: no checkpoint yet"), std::string::npos) << again.output;
  auto s2 = summary_of(run);
  EXPECT_EQ(s2["runs_finished"], 3);
  EXPECT_EQ(s2["test_accuracy_mean"], s["test_accuracy_mean"])
      << "the same seed gives fold 3 again";

  // predict picks the fold with the best dev accuracy.
  auto p = run_command(kBin + " predict --run " + run + " 'not bad' 2>&1");
  ASSERT_EQ(p.code, 0) << p.output;
  EXPECT_NE(p.output.find("fold0"), std::string::npos) << p.output;
}

TEST(SentimentTrain, SentencepieceTokensAndATsvTable) {
  TempDir dir;
  std::string cfg = planted_config(dir, "", 400);
  // The same texts as a TSV table with a header, then trained with subwords.
  write_file(dir.file("all.tsv"), planted_table(planted(400, 7)));
  std::string run = dir.file("spm");
  auto r = run_command(kBin + " train " + cfg + " --run-dir " + run +
                       " --set data.class_files=[] --set data.train=all.tsv"
                       " --set data.text_column=text --set data.tokenizer.type=sentencepiece"
                       " --set data.tokenizer.spm_vocab_size=40 --set data.clean=none");
  ASSERT_EQ(r.code, 0) << r.output;
  auto s = summary_of(run);
  EXPECT_GT(s["test_accuracy"].get<double>(), 90.0) << s.dump(1);
  EXPECT_EQ(s["vocab_size"], 40);
  EXPECT_TRUE(fs::exists(run + "/tokenizer/spm.model"));
  auto pr = run_command(kBin + " predict --run " + run + " 'it was not bad' 2>/dev/null");
  ASSERT_EQ(pr.code, 0) << pr.output;
  EXPECT_EQ(pr.output.rfind("pos\t", 0), 0u) << pr.output;
}

TEST(SentimentTrain, EnsembleAveragesTheProbabilitiesOfTheSeeds) {
  TempDir dir;
  std::string cfg = planted_config(dir, "", 400);
  write_file(dir.file("train.tsv"), planted_table(planted(400, 7)));
  const Planted test = planted(150, 11);
  write_file(dir.file("test.tsv"), planted_table(test));
  // One epoch: the two seeds' models are far from perfect and disagree.
  std::string run = dir.file("ens");
  auto r = run_command(kBin + " train " + cfg + " --run-dir " + run +
                       " --set data.class_files=[] --set data.train=train.tsv"
                       " --set data.test=test.tsv --set data.text_column=text"
                       " --set train.max_epochs=1 --set run.repeats=2");
  ASSERT_EQ(r.code, 0) << r.output;
  auto e = run_command(kBin + " ensemble --run " + run + " 2>/dev/null");
  ASSERT_EQ(e.code, 0) << e.output;
  EXPECT_NE(e.output.find("test: 2 models"), std::string::npos) << e.output;
  auto j = nlohmann::json::parse(read_all(run + "/ensemble.json"));
  const auto& g = j["groups"]["test"];
  EXPECT_EQ(g["models"], 2);
  EXPECT_EQ(g["test_sentences"], 150);
  // The single models score as their training runs did.
  const double s1 = summary_of(run + "/seed1")["test_accuracy"].get<double>();
  const double s2 = summary_of(run + "/seed2")["test_accuracy"].get<double>();
  EXPECT_NEAR(g["single_test_accuracy"].get<double>(), (s1 + s2) / 2, 1e-9);
  EXPECT_NE(s1, s2) << "the seeds should give different models";

  // The ensemble by hand, from each seed's predict output (label and the
  // probability of that label, 4 decimals): p(pos) averaged over the seeds.
  std::string texts;
  std::vector<std::string> gold;
  for (const auto& [label, lines] : {std::pair{"pos", test.pos}, std::pair{"neg", test.neg}}) {
    std::istringstream in(lines);
    for (std::string line; std::getline(in, line);) texts += line + "\n", gold.push_back(label);
  }
  write_file(dir.file("texts.txt"), texts);
  std::vector<double> p_pos(gold.size(), 0.0);
  for (const char* seed : {"seed1", "seed2"}) {
    auto pr = run_command(kBin + " predict --run " + run + " --subrun " + seed + " < " +
                          dir.file("texts.txt") + " 2>/dev/null");
    ASSERT_EQ(pr.code, 0) << pr.output;
    std::istringstream out(pr.output);
    size_t i = 0;
    for (std::string label, prob; std::getline(out, label, '\t') && std::getline(out, prob); ++i) {
      ASSERT_LT(i, gold.size());
      const double p = std::stod(prob);
      p_pos[i] += (label == "pos" ? p : 1 - p) / 2;
    }
    ASSERT_EQ(i, gold.size()) << pr.output;
  }
  int correct = 0, unsure = 0;  // unsure: too close to 0.5 for 4 decimals to decide
  for (size_t i = 0; i < gold.size(); ++i) {
    correct += (p_pos[i] > 0.5 ? "pos" : "neg") == gold[i];
    unsure += std::abs(p_pos[i] - 0.5) < 1e-4;
  }
  EXPECT_NEAR(g["test_accuracy"].get<double>(), 100.0 * correct / 150, 100.0 * unsure / 150 + 1e-9);
  EXPECT_EQ(j["test_accuracy_mean"], g["test_accuracy"]);

  // A run without repeated seeds has nothing to ensemble.
  expect_one_line_error(run_command(kBin + " ensemble --run " + run + "/seed1"), 2, "no sub-runs");
}

TEST(SentimentData, VocabularyComesFromTheTrainingPartOnly) {
  TempDir dir;
  // Two classes of 10 lines; the word "zebra" only in the last line of each.
  std::string pos, neg;
  for (int i = 0; i < 10; ++i) {
    pos += std::string("good film") + (i == 9 ? " zebra" : "") + "\n";
    neg += std::string("bad film") + (i == 9 ? " zebra" : "") + "\n";
  }
  write_file(dir.file("pos.txt"), pos);
  write_file(dir.file("neg.txt"), neg);
  SentimentConfig cfg;
  cfg.run.data_root = dir.path.string();
  cfg.data.class_files = {"pos=pos.txt", "neg=neg.txt"};
  cfg.data.folds = 10;
  cfg.data.dev_fraction = 0.2;
  int with_zebra = 0;
  for (int fold = 1; fold <= 10; ++fold) {
    cfg.data.fold = fold;
    sentiment::SentimentTask task(cfg, "", torch::kCPU);
    const auto& d = task.data();
    EXPECT_EQ(d.test.size(), 2);
    EXPECT_EQ(d.train.size() + d.dev.size(), 18);
    bool in_train = false;
    for (const auto& t : d.train.texts) in_train |= t.find("zebra") != std::string::npos;
    auto ids = sentiment::encode_text(cfg, task.tokenizer(), "zebra");
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_EQ(ids[0] != 1, in_train) << "fold " << fold << ": zebra is known iff it was trained on";
    with_zebra += in_train;
  }
  EXPECT_GT(with_zebra, 0);
  EXPECT_LT(with_zebra, 10);
}

/// Six short reviews in two class files and a 3-d vectors file of `words`
/// (rows `v`); a one-split config over them with model.vectors set.
SentimentConfig tiny_vectors_config(const TempDir& dir, const std::vector<std::string>& words,
                                    const torch::Tensor& v) {
  write_file(dir.file("pos.txt"), "good film\ngreat film\nGood one\n");
  write_file(dir.file("neg.txt"), "bad film\nawful film\nbad one\n");
  datasets::write_word2vec(datasets::make_word_vectors(words, v), dir.file("vec.txt"), false);
  SentimentConfig cfg;
  cfg.run.data_root = dir.path.string();
  cfg.data.class_files = {"pos=pos.txt", "neg=neg.txt"};
  cfg.data.dev_fraction = 0.34;
  cfg.data.test_fraction = 0;
  cfg.model.embedding_dim = 3;
  cfg.model.vectors = dir.file("vec.txt");
  return cfg;
}

TEST(SentimentData, WordVectorsInitialiseTheEmbedding) {
  TempDir dir;
  // "good" and "film" have vectors; the cleaned text is lower case.
  torch::Tensor v = torch::tensor({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}).view({2, 3});
  SentimentConfig cfg = tiny_vectors_config(dir, {"good", "film"}, v);
  cfg.model.embedding_mode = "two_channels";
  sentiment::SentimentTask task(cfg, "", torch::kCPU);
  auto& model = dynamic_cast<SentenceClassifierImpl&>(task.model());
  int64_t good = sentiment::encode_text(cfg, task.tokenizer(), "good")[0];
  int64_t film = sentiment::encode_text(cfg, task.tokenizer(), "film")[0];
  EXPECT_GE(task.covered(), 1);
  if (good != 1) {
    EXPECT_TRUE(model.embedding->weight[good].equal(v[0]));
    EXPECT_TRUE(model.static_embedding->weight[good].equal(v[0]));
  }
  EXPECT_TRUE(model.embedding->weight[film].equal(v[1]));
  EXPECT_FALSE(model.static_embedding->weight.requires_grad());

  cfg.model.embedding_dim = 4;
  try {
    sentiment::SentimentTask wrong(cfg, "", torch::kCPU);
    FAIL() << "a 3-dimensional file loaded into a 4-dimensional embedding";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("vec.txt:1: the vectors have 3 dimensions"),
              std::string::npos)
        << e.what();
  }
}

TEST(SentimentData, EmbeddingLearningRateScaleMakesItsOwnParameterGroup) {
  TempDir dir;
  torch::Tensor v = torch::ones({1, 3});
  SentimentConfig cfg = tiny_vectors_config(dir, {"film"}, v);
  sentiment::SentimentTask one(cfg, "", torch::kCPU);
  ASSERT_EQ(one.param_groups().size(), 1u);  // scale 1: a single group
  cfg.model.embedding_lr_scale = 0.25;
  sentiment::SentimentTask task(cfg, "", torch::kCPU);
  auto& model = dynamic_cast<SentenceClassifierImpl&>(task.model());
  auto groups = task.param_groups();
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_DOUBLE_EQ(groups[0].lr_scale, 1.0);
  EXPECT_DOUBLE_EQ(groups[1].lr_scale, 0.25);
  ASSERT_EQ(groups[1].params.size(), 1u);
  EXPECT_TRUE(groups[1].params[0].is_same(model.embedding->weight));
  EXPECT_EQ(groups[0].params.size() + 1, model.parameters().size());
}

TEST(SentimentData, DiscriminativeRatesSlowEachLayerDownAsUlmfit) {
  TempDir dir;
  SentimentConfig cfg = tiny_vectors_config(dir, {"film"}, torch::ones({1, 3}));
  cfg.model.rnn.stack.num_layers(2).bidirectional(true);
  cfg.model.discriminative_lr = 2.0;
  cfg.model.embedding_lr_scale = 0.5;
  sentiment::SentimentTask task(cfg, "", torch::kCPU);
  auto& model = dynamic_cast<SentenceClassifierImpl&>(task.model());
  auto groups = task.param_groups();
  ASSERT_EQ(groups.size(), 4u);  // head, layer 0, layer 1, embedding
  EXPECT_DOUBLE_EQ(groups[0].lr_scale, 1.0);
  EXPECT_DOUBLE_EQ(groups[1].lr_scale, 0.25);    // layer 0 of 2: lr / 2^2
  EXPECT_DOUBLE_EQ(groups[2].lr_scale, 0.5);     // layer 1 (the top): lr / 2
  EXPECT_DOUBLE_EQ(groups[3].lr_scale, 0.0625);  // embedding: 0.5 x lr / 2^3
  auto params = model.named_parameters();
  auto in = [](const ParamGroup& g, const torch::Tensor& t) {
    return std::any_of(g.params.begin(), g.params.end(),
                       [&](const auto& p) { return p.is_same(t); });
  };
  EXPECT_TRUE(in(groups[1], params["encoder.rnn.weight_hh_l0_reverse"]));
  EXPECT_TRUE(in(groups[2], params["encoder.rnn.bias_ih_l1"]));
  EXPECT_TRUE(in(groups[0], params["output.weight"]));
  EXPECT_TRUE(in(groups[3], model.embedding->weight));
  size_t n = 0;
  for (const auto& g : groups) n += g.params.size();
  EXPECT_EQ(n, params.size());
  // Off (1) with scale 1: one group, as before.
  cfg.model.discriminative_lr = 1.0;
  cfg.model.embedding_lr_scale = 1.0;
  sentiment::SentimentTask plain(cfg, "", torch::kCPU);
  EXPECT_EQ(plain.param_groups().size(), 1u);
}

TEST(SentimentData, GradualUnfreezingTrainsOneMoreLayerEveryNEpochs) {
  TempDir dir;
  SentimentConfig cfg = tiny_vectors_config(dir, {"film"}, torch::ones({1, 3}));
  cfg.model.rnn.stack.num_layers(2);
  cfg.model.unfreeze_every = 3;
  sentiment::SentimentTask task(cfg, "", torch::kCPU);
  auto& model = dynamic_cast<SentenceClassifierImpl&>(task.model());
  auto trains = [&](const std::string& name) {
    return model.named_parameters()[name].requires_grad();
  };
  // (epoch, layer 1 trains, layer 0 trains, embedding trains); the head always trains.
  for (auto [epoch, l1, l0, emb] : std::vector<std::tuple<int64_t, bool, bool, bool>>{
           {0, false, false, false},
           {2, false, false, false},
           {3, true, false, false},
           {6, true, true, false},
           {9, true, true, true},
           {40, true, true, true},
           {1, false, false, false}}) {  // a resumed run's epoch decides, not the history
    task.start_epoch(epoch);
    EXPECT_TRUE(trains("output.weight")) << epoch;
    EXPECT_EQ(trains("encoder.rnn.weight_hh_l1"), l1) << epoch;
    EXPECT_EQ(trains("encoder.rnn.bias_ih_l0"), l0) << epoch;
    EXPECT_EQ(trains("embedding.weight"), emb) << epoch;
  }
  // A frozen embedding (model.embedding_mode: freeze) stays frozen.
  cfg.model.embedding_mode = "freeze";
  sentiment::SentimentTask frozen(cfg, "", torch::kCPU);
  frozen.start_epoch(40);
  EXPECT_FALSE(
      dynamic_cast<SentenceClassifierImpl&>(frozen.model()).embedding->weight.requires_grad());
}

TEST(SentimentData, VectorsExtendGivesTestOnlyWordsTheirPretrainedVectors) {
  TempDir dir;
  // "superb" is in no text, "film" in training; "zz" is the file's third word.
  torch::Tensor v = torch::arange(12, torch::kFloat).view({4, 3});
  SentimentConfig cfg = tiny_vectors_config(dir, {"film", "superb", "zz", "dreadful"}, v);
  cfg.model.vectors_extend = 3;  // the file's first three words
  sentiment::SentimentTask task(cfg, "", torch::kCPU);
  EXPECT_EQ(task.extended(), 2);  // superb, zz ("film" is a training word)
  auto& model = dynamic_cast<SentenceClassifierImpl&>(task.model());
  EXPECT_EQ(model.options.fixed_words(), 2);
  int64_t superb = sentiment::encode_text(cfg, task.tokenizer(), "superb")[0];
  EXPECT_EQ(superb, task.tokenizer().vocab_size() - 2);
  EXPECT_TRUE(model.fixed_vectors[0].equal(v[1]));
  EXPECT_EQ(sentiment::encode_text(cfg, task.tokenizer(), "dreadful")[0], 1);  // past the first 3
  // Saved and loaded, the tokenizer still says which words are fixed.
  task.save_tokenizer(dir.file("tok"));
  EXPECT_EQ(datasets::extension_size(*datasets::load_tokenizer(dir.file("tok"))), 2);

  cfg.model.vectors = "";
  ConfigSchema schema;
  cfg.bind(schema);
  try {
    cfg.validate(schema);
    FAIL() << "vectors_extend without vectors";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.vectors_extend"), std::string::npos) << e.what();
  }
}

// ---- bad input: one line, the right exit code, no run directory ----

TEST(SentimentErrors, ConfigAndDataErrorsComeBeforeAnyRunDirectory) {
  TempDir dir;
  std::string cfg = planted_config(dir, "", 100);
  auto expect = [&](const std::string& sets, int code, const std::string& text) {
    std::string run = dir.file("never");
    auto r = run_command(kBin + " train " + cfg + " --run-dir " + run + " " + sets);
    SCOPED_TRACE(sets);
    expect_one_line_error(r, code, text);
    EXPECT_FALSE(fs::exists(run));
  };
  expect("--set model.pooling=avg", 2, "model.pooling");
  expect("--set data.folds=1", 2, "data.folds");
  expect("--set data.folds=3 --set data.fold=4", 2, "data.fold");
  expect("--set data.folds=3 --set data.dev=x.tsv", 2, "data.dev");
  expect("--set data.train=x.tsv", 2, "exactly one of data.class_files");
  expect("--set data.class_files=[pos=pos.txt]", 2, "two or more");
  expect("--set data.class_files=[pos.txt,neg=neg.txt]", 2, "label=path");
  expect("--set model.embedding_mode=freeze", 2, "model.vectors");
  expect("--set model.embedding_mode=freeze --set model.embedding_lr_scale=0.5", 2,
         "model.embedding_lr_scale");
  expect("--set model.embedding_lr_scale=0", 2, "model.embedding_lr_scale");
  expect("--set model.vectors=v.txt --set data.tokenizer.type=char", 2,
         "data.tokenizer.type: word");
  expect("--set data.class_files=[pos=pos.txt,neg=missing.txt]", 1, "missing.txt");
  expect("--set model.chunk=50", 2, "model.chunk");  // the planted encoder is bidirectional
  expect("--set model.chunk=50 --set model.rnn.bidirectional=false --set model.pooling=attention",
         2, "model.chunk");
  expect("--set model.grad_chunks=2", 2, "model.grad_chunks");
  expect("--set data.test=t.tsv --set data.test_class_files=[pos=pos.txt,neg=neg.txt]", 2,
         "data.test_class_files");
  expect("--set data.folds=3 --set data.test_class_files=[pos=pos.txt,neg=neg.txt]", 2,
         "data.test_class_files");
  expect("--set data.test_class_files=[good=pos.txt,neg=neg.txt]", 2,
         "label 'good' is not a label of the training data (neg, pos)");

  // Data files with faults.
  write_file(dir.file("empty_line.txt"), "good\n\nbad\n");
  expect("--set data.class_files=[pos=pos.txt,neg=empty_line.txt]", 1, "empty_line.txt:2");
  write_file(dir.file("t.tsv"), "sentence\tlabel\ngood film\t1\nbad film\t0\nok\t1\nmeh\t0\n");
  write_file(dir.file("no_label.tsv"), "sentence\tgrade\ngood film\t1\n");
  expect("--set data.class_files=[] --set data.train=no_label.tsv", 1, "no_label.tsv:1");
  write_file(dir.file("one_class.tsv"), "sentence\tlabel\ngood film\t1\nfine\t1\n");
  expect("--set data.class_files=[] --set data.train=one_class.tsv", 1, "one_class.tsv");
  write_file(dir.file("dev3.tsv"), "sentence\tlabel\ngood film\t1\nso so\t2\n");
  expect("--set data.class_files=[] --set data.train=t.tsv --set data.dev=dev3.tsv", 1,
         "dev3.tsv:3");
  write_file(dir.file("short.tsv"), "sentence\tlabel\ngood film\t1\nbad film\n");
  expect("--set data.class_files=[] --set data.train=short.tsv", 1, "short.tsv:3");

  // Word vectors of the wrong size, and a malformed file.
  datasets::write_word2vec(datasets::make_word_vectors({"good", "film"}, torch::ones({2, 3})),
                           dir.file("v3.txt"), false);
  expect("--set model.vectors=" + dir.file("v3.txt"), 1, "v3.txt:1: the vectors have 3");
  write_file(dir.file("broken.txt"), "2 16\ngood 0.1 0.2\n");
  expect("--set model.vectors=" + dir.file("broken.txt"), 1, "broken.txt:2");
  expect("--set model.vectors=" + dir.file("none.bin"), 1, "none.bin");
}

}  // namespace
}  // namespace rnnlab
