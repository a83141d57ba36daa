// rnnlab-translate as a user runs it, on a planted language pair (each
// source word has one target word, and the target reverses the order):
// training reaches a high BLEU, translate keeps one output line per input
// line, eval and score print BLEU and chrF, and bad input gives one-line
// errors before a run directory exists.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "tests/support/support.h"

namespace fs = std::filesystem;

namespace rnnlab {
namespace {

using test::expect_one_line_error;
using test::read_all;
using test::run_command;
using test::TempDir;
using test::write_file;

const std::string kBin = std::string(RNNLAB_BINARY_DIR) + "/bin/rnnlab-translate";

/// n pairs of 3-6 words; target word i of a sentence is the translation of
/// source word (len-1-i).
std::pair<std::string, std::string> planted(int n, unsigned seed) {
  static const char* src[] = {"cat", "dog", "red",  "big",   "runs", "eats",
                              "the", "a",   "tree", "house", "blue", "small"};
  static const char* tgt[] = {"katze", "hund", "rot",  "gross", "rennt", "isst",
                              "der",   "ein",  "baum", "haus",  "blau",  "klein"};
  unsigned x = seed;
  auto next = [&x] {
    x = x * 1103515245u + 12345u;
    return (x >> 16) & 0x7FFF;
  };
  std::string s, t;
  for (int i = 0; i < n; ++i) {
    int len = 3 + static_cast<int>(next() % 4);
    std::vector<int> w;
    for (int j = 0; j < len; ++j) w.push_back(static_cast<int>(next() % 12));
    for (int j = 0; j < len; ++j) {
      s += std::string(j ? " " : "") + src[w[j]];
      t += std::string(j ? " " : "") + tgt[w[len - 1 - j]];
    }
    s += "\n";
    t += "\n";
  }
  return {s, t};
}

std::string fmt_bleu(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "BLEU = %.2f", v);
  return buf;
}

std::string planted_config(const TempDir& dir) {
  auto [trs, trt] = planted(1500, 1);
  auto [vas, vat] = planted(100, 2);
  auto [tes, tet] = planted(100, 3);
  write_file(dir.file("train.xx"), trs);
  write_file(dir.file("train.yy"), trt);
  write_file(dir.file("valid.xx"), vas);
  write_file(dir.file("valid.yy"), vat);
  write_file(dir.file("test.xx"), tes);
  write_file(dir.file("test.yy"), tet);
  return write_file(dir.file("planted.yaml"),
                    "run:\n  data_root: " + dir.path.string() + "\n  dir: " + dir.file("runs") +
                        "\n  progress: lines\n"
                        "data:\n  train: train\n  valid: valid\n  test: test\n  src: xx\n"
                        "  tgt: yy\n  tokenizer:\n    type: word\n  max_tokens: 400\n"
                        "model:\n  embedding: 32\n  dropout: 0.0\n  label_smoothing: 0.0\n"
                        "  encoder: {type: gru, hidden: 32, bidirectional: true}\n"
                        "  decoder: {type: gru, hidden: 64}\n  attention: bahdanau\n"
                        "decode:\n  beam: 3\n"
                        "train:\n  max_epochs: 8\n  patience: 0\n  log_every: 1000\n"
                        "optim:\n  lr: 0.01\n");
}

TEST(TranslateTrain, ExportsForPythonAndInitialisesFromIt) {
  TempDir dir;
  std::string cfg = planted_config(dir);
  std::string run = dir.file("run");
  auto r = run_command(kBin + " train " + cfg + " --run-dir " + run + " --set train.max_steps=2");
  ASSERT_EQ(r.code, 0) << r.output;
  std::string out = dir.file("nmt.pt");
  r = run_command(kBin + " export --run " + run + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("nmt.src_vocab.json, " + dir.file("nmt.tgt_vocab.json")),
            std::string::npos)
      << r.output;
  std::string json = test::expect_python_loads_export(out);
  for (const char* s : {"\"src_embedding\"", "\"bridge_h\"", "\"score_v\"", "\"class\": \"GRU\""})
    EXPECT_NE(json.find(s), std::string::npos) << s;
  std::string run2 = dir.file("run2");
  r = run_command(kBin + " train " + cfg + " --run-dir " + run2 +
                  " --set train.max_steps=1 --set model.init_from_pytorch=" + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(read_all(run2 + "/log.txt").find("tensors read from '" + out + "'\n"),
            std::string::npos);
}

TEST(TranslateTrain, LearnsAPlantedLanguagePairAndTranslatesLineByLine) {
  TempDir dir;
  std::string cfg = planted_config(dir);
  std::string run = dir.file("run");
  auto r = run_command(kBin + " train " + cfg + " --run-dir " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  auto s = nlohmann::json::parse(read_all(run + "/summary.json"));
  for (const char* key : {"val_bleu", "test_bleu", "test_chrf", "val_ppl"})
    ASSERT_TRUE(s.contains(key)) << key << ": " << s.dump(1);
  EXPECT_GT(s["test_bleu"].get<double>(), 80.0) << s.dump(1);
  EXPECT_TRUE(fs::exists(run + "/test.hyp"));
  EXPECT_TRUE(fs::exists(run + "/tokenizer"));

  // The test file's BLEU from `score` equals the summary's.
  auto sc = run_command(kBin + " score --hyp " + run + "/test.hyp --ref " + dir.file("test.yy"));
  ASSERT_EQ(sc.code, 0) << sc.output;
  EXPECT_NE(sc.output.find(fmt_bleu(s["test_bleu"].get<double>())), std::string::npos) << sc.output;
  EXPECT_NE(sc.output.find("chrF = "), std::string::npos);

  // translate: one line per input line, an empty line stays empty.
  write_file(dir.file("in.txt"), "the big dog\n\nred cat runs\n");
  auto t =
      run_command(kBin + " translate --run " + run + " < " + dir.file("in.txt") + " 2>/dev/null");
  ASSERT_EQ(t.code, 0) << t.output;
  EXPECT_EQ(t.output, "hund gross der\n\nrennt katze rot\n");

  // Characters never seen in training and a source far longer than any
  // training sentence are translated too (as <unk> pieces; the output is
  // capped at max_len_a * length + max_len_b tokens): one line each.
  std::string long_line;
  for (int i = 0; i < 150; ++i) long_line += i % 2 ? "red cat " : "the big dog ";
  write_file(dir.file("odd.txt"), "the \u2603 dog \U0001F600\n" + long_line + "\nZQX\n");
  // (in a subshell: run_command adds 2>&1, and the cut line's warning is on stderr)
  auto odd = run_command("(" + kBin + " translate --run " + run + " < " + dir.file("odd.txt") +
                         " 2>/dev/null)");
  ASSERT_EQ(odd.code, 0) << odd.output;
  EXPECT_EQ(std::count(odd.output.begin(), odd.output.end(), '\n'), 3) << odd.output;
  // Invalid UTF-8 on stdin names the line.
  write_file(dir.file("latin1.txt"), "the big dog\ncaf\xe9\n");
  expect_one_line_error(
      run_command(kBin + " translate --run " + run + " < " + dir.file("latin1.txt")), 1,
      "<stdin>:2: invalid UTF-8 byte 0xe9 at column 4");

  // eval on the test files gives the test BLEU (same beam).
  auto e = run_command(kBin + " eval --run " + run + " --src " + dir.file("test.xx") + " --ref " +
                       dir.file("test.yy") + " 2>/dev/null");
  ASSERT_EQ(e.code, 0) << e.output;
  EXPECT_EQ(e.output.substr(0, e.output.find('\n')), sc.output.substr(0, sc.output.find('\n')));

  // The attention plot (gnuplot may be missing: then one error line).
  auto p = run_command("echo 'the big dog' | " + kBin + " translate --run " + run +
                       " --attention-plot " + dir.file("att.svg") + " 2>&1");
  if (p.code == 0) {
    EXPECT_TRUE(fs::exists(dir.file("att.svg"))) << p.output;
  }
}

TEST(TranslateTrain, SigtermThenResumeEndsLikeAnUnstoppedRun) {
  TempDir dir;
  std::string cfg = planted_config(dir);
  // Scheduled sampling too: its draws come from the checkpointed generator.
  std::string cmd =
      kBin + " train " + cfg + " --set train.max_epochs=4 --set model.teacher_forcing_end=0.7";
  std::string straight = dir.file("straight");
  ASSERT_EQ(run_command(cmd + " --run-dir " + straight).code, 0);
  std::string run = dir.file("stopped");
  auto r = run_command("(" + cmd + " --run-dir " + run + " & pid=$!; while [ ! -f " + run +
                       "/checkpoint_last.pt ]; do sleep 0.01; done; sleep 0.3; kill -TERM $pid; "
                       "wait $pid; echo exit=$?)");
  ASSERT_NE(r.output.find("exit=143"), std::string::npos) << r.output;
  ASSERT_FALSE(fs::exists(run + "/summary.json")) << "the run ended before the signal";
  r = run_command(kBin + " train --resume " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  auto a = nlohmann::json::parse(read_all(straight + "/summary.json"));
  auto b = nlohmann::json::parse(read_all(run + "/summary.json"));
  for (const char* key : {"val_loss", "val_bleu", "test_bleu", "test_chrf", "steps"})
    EXPECT_EQ(a[key], b[key]) << key;
  EXPECT_EQ(read_all(straight + "/test.hyp"), read_all(run + "/test.hyp"));
  test::expect_complete_run_unchanged_by_resume(kBin, run);

  // One 1 MB source line is cut (twice the longest training source, from
  // limits.json), said on stderr, and still gives one output line per input.
  std::string huge;
  while (huge.size() < (1u << 20)) huge += "zo ka mi ";
  write_file(dir.file("huge.txt"), "zo ka\n" + huge + "\n\nmi\n");
  r = run_command("(" + kBin + " translate --run " + run + " < " + dir.file("huge.txt") + " 2>" +
                  dir.file("stderr.txt") + ")");
  ASSERT_EQ(r.code, 0) << r.output << read_all(dir.file("stderr.txt"));
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 4) << r.output.substr(0, 400);
  std::string err = read_all(dir.file("stderr.txt"));
  EXPECT_NE(err.find("line 2: the source has 349527 tokens; cut to its first"), std::string::npos)
      << err;
  EXPECT_EQ(err.find("line 1:"), std::string::npos) << err;
}

TEST(TranslateTrain, TwoProcessesTrainLikeOneWithTheSameGlobalBatch) {
  TempDir dir;
  // Token-budget batches dealt out to the 2 ranks by source and target tokens.
  std::string cmd = kBin + " train " + planted_config(dir) +
                    " --set train.max_steps=30 --set train.log_every=1 --set run.threads=1"
                    " --set decode.beam=1";
  test::train_on_one_and_two(cmd, dir.path / "one", dir.path / "two");
  test::expect_same_training(dir.path / "one", dir.path / "two", 30, 1e-5);
  // Validation and test are shared by the ranks: the decoded halves joined
  // give the one-process BLEU and chrF.
  auto a = test::read_summary(dir.file("one")), b = test::read_summary(dir.file("two"));
  for (const char* key : {"val_bleu", "val_chrf", "test_bleu", "test_chrf"})
    EXPECT_EQ(a[key], b[key]) << key;
  EXPECT_EQ(test::read_all(dir.file("one") + "/test.hyp"),
            test::read_all(dir.file("two") + "/test.hyp"));
}

TEST(TranslateErrors, BadInputIsOneLineBeforeARunDirectory) {
  TempDir dir;
  std::string cfg = planted_config(dir);
  auto expect = [&](const std::string& sets, int code, const std::string& text) {
    std::string run = dir.file("never");
    SCOPED_TRACE(sets);
    expect_one_line_error(run_command(kBin + " train " + cfg + " --run-dir " + run + " " + sets),
                          code, text);
    EXPECT_FALSE(fs::exists(run));
  };
  write_file(dir.file("short.yy"), "hund\nkatze\n");
  write_file(dir.file("short.xx"), "dog\ncat\nred\n");
  expect("--set data.train=short", 1, "short.xx has 3 lines, " + dir.file("short.yy") + " has 2");
  expect("--set data.tgt=xx", 2, "data.tgt");
  expect("--set model.decoder.type=lstm", 2, "model.decoder.type");
  expect("--set model.attention=luong_dot --set model.decoder.hidden=48", 2, "luong_dot");
  expect("--set model.tie_embeddings=true", 2, "model.tie_embeddings");
  expect("--set model.attention=dot", 2, "model.attention");
  expect("--set data.valid=nothing", 1, "nothing.xx");
  expect("--set model.teacher_forcing_end=0.5 --set train.max_epochs=0 --set train.max_minutes=1",
         2, "model.teacher_forcing_end");
  expect("--set 'data.valid=\"\"'", 2, "key 'data.valid' (--set): needs the files' common prefix");
  expect("--set decode.max_len_a=0 --set decode.max_len_b=0", 2,
         "key 'decode.max_len_b' (--set): with decode.max_len_a 0 too, every translation would "
         "be empty");

  // A training pair with an empty target is dropped (and counted), not learnt.
  write_file(dir.file("gap.xx"), read_all(dir.file("train.xx")) + "dog\n");
  write_file(dir.file("gap.yy"), read_all(dir.file("train.yy")) + "\n");
  auto gap = run_command(kBin + " train " + cfg + " --run-dir " + dir.file("gap") +
                         " --set data.train=gap --set train.max_steps=1 --set train.max_epochs=0");
  ASSERT_EQ(gap.code, 0) << gap.output;
  EXPECT_EQ(nlohmann::json::parse(read_all(dir.file("gap/summary.json")))["train_pairs_dropped"],
            1);

  expect_one_line_error(
      run_command(kBin + " score --hyp " + dir.file("short.xx") + " --ref " + dir.file("short.yy")),
      1, "differ in length");
  write_file(dir.file("gap.ref"), "hund\n\n");
  expect_one_line_error(
      run_command(kBin + " score --hyp " + dir.file("short.yy") + " --ref " + dir.file("gap.ref")),
      1, dir.file("gap.ref") + ":2: empty reference line");
  // An empty reference line in the validation split: refused before training.
  write_file(dir.file("vgap.xx"), "the big dog\nred cat\n");
  write_file(dir.file("vgap.yy"), "hund gross der\n\n");
  expect_one_line_error(run_command(kBin + " train " + cfg + " --run-dir " + dir.file("vgap") +
                                    " --set data.valid=vgap"),
                        1, "vgap.yy:2: empty reference line");
  EXPECT_FALSE(fs::exists(dir.file("vgap/checkpoint_last.pt")));
  // A run directory without its tokenizer.
  fs::create_directories(dir.file("broken"));
  write_file(dir.file("broken/config.yaml"), read_all(cfg));
  auto r = run_command(kBin + " translate --run " + dir.file("broken") + " < /dev/null");
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.output.rfind("error: ", 0), 0u) << r.output;
}

}  // namespace
}  // namespace rnnlab
